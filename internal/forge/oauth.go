package forge

import (
	"context"
	"errors"
	"net/http"

	"golang.org/x/oauth2"
)

// OAuth2 implements AuthCodeURL and Exchange of LoginProvider for any
// provider that follows RFC 6749 and RFC 7636. Providers embed it and add
// Name and UserInfo.
type OAuth2 struct {
	ProviderName string
	Config       oauth2.Config
	// HTTPClient is used for the token request; nil means
	// http.DefaultClient. Set it for a private CA or a proxy.
	HTTPClient *http.Client
}

// AuthCodeURL implements LoginProvider.
func (o *OAuth2) AuthCodeURL(state, codeChallenge string) string {
	return o.Config.AuthCodeURL(state,
		oauth2.SetAuthURLParam("code_challenge", codeChallenge),
		oauth2.SetAuthURLParam("code_challenge_method", "S256"))
}

// Exchange implements LoginProvider.
func (o *OAuth2) Exchange(ctx context.Context, code, codeVerifier string) (*oauth2.Token, error) {
	if o.HTTPClient != nil {
		ctx = context.WithValue(ctx, oauth2.HTTPClient, o.HTTPClient)
	}
	tok, err := o.Config.Exchange(ctx, code, oauth2.VerifierOption(codeVerifier))
	if err == nil {
		return tok, nil
	}
	secrets := []string{code, codeVerifier, o.Config.ClientSecret}
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		// Transport errors name only the token URL, but redact anyway.
		return nil, &ProviderError{Provider: o.ProviderName, Kind: ErrProviderUnavailable,
			Description: Redact(err.Error(), secrets...)}
	}
	pe := &ProviderError{Provider: o.ProviderName, Code: Redact(re.ErrorCode, secrets...),
		Description: Redact(re.ErrorDescription, secrets...)}
	pe.Kind = classify(re)
	if pe.Code == "" && pe.Description == "" && re.Response != nil {
		pe.Description = "HTTP " + re.Response.Status
	}
	return nil, pe
}

// classify maps a token-endpoint error to its category. GitHub answers with
// its own codes (and HTTP 200); RFC 6749 providers with invalid_grant etc.
func classify(re *oauth2.RetrieveError) error {
	switch re.ErrorCode {
	case "invalid_grant", "bad_verification_code", "redirect_uri_mismatch", "invalid_request":
		return ErrCodeRejected
	case "invalid_client", "incorrect_client_credentials", "unauthorized_client":
		return ErrClientRejected
	}
	if re.Response != nil {
		switch re.Response.StatusCode {
		case http.StatusUnauthorized:
			return ErrClientRejected
		case http.StatusBadRequest:
			return ErrCodeRejected
		}
	}
	return ErrProviderUnavailable
}
