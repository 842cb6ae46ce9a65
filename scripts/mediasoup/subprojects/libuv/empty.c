/* Empty: a placeholder library for the link_whole lists in mediasoup's worker/meson.build (used only by its
 * libmediasoup-worker target, which is not built by default); the real library comes from Debian via pkg-config. */
