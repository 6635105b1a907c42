package forgetest

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The fake refuses the JWTs GitHub refuses, with GitHub's messages.
func TestAppServerRejectsBadJWTs(t *testing.T) {
	s := NewAppServer(t)
	s.AddInstallation(1, "acme")
	now := time.Now()
	sign := func(iat, exp any, iss string, m jwt.SigningMethod, key any) string {
		tok, err := jwt.NewWithClaims(m, jwt.MapClaims{"iat": iat, "exp": exp, "iss": iss}).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	app := strconv.FormatInt(s.AppID, 10)
	ok := now.Add(-time.Minute).Unix()
	cases := map[string]struct {
		tok  string
		want string
	}{
		"valid":         {sign(ok, now.Add(9*time.Minute).Unix(), app, jwt.SigningMethodRS256, s.Key), ""},
		"exp too far":   {sign(ok, now.Add(11*time.Minute).Unix(), app, jwt.SigningMethodRS256, s.Key), msgExpTooFar},
		"expired":       {sign(ok, now.Add(-time.Second).Unix(), app, jwt.SigningMethodRS256, s.Key), msgExpPast},
		"iat in future": {sign(now.Add(time.Minute).Unix(), now.Add(9*time.Minute).Unix(), app, jwt.SigningMethodRS256, s.Key), msgIatInvalid},
		"fractional":    {sign(float64(ok)+0.5, now.Add(9*time.Minute).Unix(), app, jwt.SigningMethodRS256, s.Key), msgIatInvalid},
		"unknown iss":   {sign(ok, now.Add(9*time.Minute).Unix(), "1", jwt.SigningMethodRS256, s.Key), msgJWTUndecodable},
		"alg none":      {sign(ok, now.Add(9*time.Minute).Unix(), app, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType), msgJWTUndecodable},
		"HS256":         {sign(ok, now.Add(9*time.Minute).Unix(), app, jwt.SigningMethodHS256, []byte("x")), msgJWTUndecodable},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", s.APIURL+"app/installations/1/access_tokens", nil)
			req.Header.Set("Authorization", "Bearer "+c.tok)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body strings.Builder
			buf := make([]byte, 4096)
			for {
				n, err := resp.Body.Read(buf)
				body.Write(buf[:n])
				if err != nil {
					break
				}
			}
			if c.want == "" {
				if resp.StatusCode != http.StatusCreated || !strings.Contains(body.String(), `"token":"ghs_`) {
					t.Fatalf("%d %s", resp.StatusCode, body.String())
				}
				return
			}
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body.String(), c.want) {
				t.Fatalf("%d %s; want 401 %q", resp.StatusCode, body.String(), c.want)
			}
		})
	}
}
