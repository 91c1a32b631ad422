/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The console's backend (FastAPI, `llmtuner console`) serves dist/ itself, so the build uses absolute
// /assets/... paths and needs no CDN. `npm run dev` proxies /api to a backend on CONSOLE_BACKEND
// (default http://127.0.0.1:8080, the backend's default port).
export default defineConfig({
  plugins: [react()],
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 1500,
    rollupOptions: {
      output: {
        manualChunks: {
          react: ['react', 'react-dom', 'react-router-dom'],
          antd: ['antd', '@ant-design/icons'],
          charts: ['recharts'],
        },
      },
    },
  },
  server: {
    proxy: {
      '/api': { target: process.env.CONSOLE_BACKEND || 'http://127.0.0.1:8080', changeOrigin: false },
    },
  },
  test: {
    environment: 'jsdom',
    globals: true,
    setupFiles: ['src/test/setup.ts'],
    include: ['src/**/*.test.{ts,tsx}'],
    css: false,
    // the machine this runs on may have 2 cores: one worker keeps memory and CPU small
    pool: 'threads',
    poolOptions: { threads: { singleThread: true } },
    testTimeout: 60000,
  },
});
