package server

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

// The web app, built by `npm run build` in web/ and committed, so the
// binary serves it with no Node.js at run time.
//
//go:embed all:ui/dist
var uiFiles embed.FS

// ui serves the web app's files, and index.html for any other path so the
// app's own router can show it (the app uses real paths, not #/ routes).
// Routes with their own handlers are registered on more specific patterns
// and never reach here.
func (s *Server) ui() http.Handler {
	dist, err := fs.Sub(uiFiles, "ui/dist")
	if err != nil {
		panic("server: the embedded web app is missing: " + err.Error())
	}
	files := http.FileServerFS(dist)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" "+r.URL.Path+" is not a route; the web app answers GET only")
			return
		}
		name := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
		if name != "" && name != "index.html" {
			if st, err := fs.Stat(dist, name); err == nil && !st.IsDir() {
				if strings.HasPrefix(name, "assets/") {
					// Vite names assets by content hash: safe to keep forever.
					w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
				}
				files.ServeHTTP(w, r)
				return
			}
			if strings.HasPrefix(name, "assets/") {
				http.NotFound(w, r)
				return
			}
		}
		index, err := fs.ReadFile(dist, "index.html")
		if err != nil {
			http.Error(w, "the web app is not built into this binary; run npm run build in web/", http.StatusNotFound)
			return
		}
		// index.html names the current assets: never serve a stale one.
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(index)
	})
}
