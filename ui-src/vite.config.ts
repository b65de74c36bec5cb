import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// `npm run build` writes the UI into the Python package, which serves it at `/`.
// `npm run dev` proxies the API to a server started with `noetl server start`
// (or `python -m noetl.server`) on the default port.
const api = process.env.NOETL_API ?? 'http://127.0.0.1:8082';

export default defineConfig({
  plugins: [react()],
  base: './',
  build: {
    outDir: '../noetl/core/ui',
    emptyOutDir: true,
    assetsDir: 'assets',
  },
  server: {
    proxy: {
      '/api': api,
      '/health': api,
    },
  },
});
