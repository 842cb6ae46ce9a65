// Web entries import their stylesheets; esbuild bundles them into each page's CSS asset.
declare module '*.css';
