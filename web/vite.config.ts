/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The build lands in the Go server's package so `go build` embeds it; the
// output is committed and CI checks a fresh build is byte-identical.
export default defineConfig({
  plugins: [react()],
  base: '/',
  build: {
    outDir: '../internal/server/ui/dist',
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 1000,
  },
  server: { proxy: { '/api': 'http://127.0.0.1:8080', '/auth': 'http://127.0.0.1:8080' } },
  test: { environment: 'node', include: ['src/**/*.test.ts', 'src/**/*.test.tsx'] },
});
