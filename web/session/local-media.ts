/// <reference lib="dom" />
/** The participant's own camera and microphone: choosing devices, and how loud the microphone is. */

export interface Devices {
  cameras: { id: string; label: string }[];
  microphones: { id: string; label: string }[];
}

export async function listDevices(): Promise<Devices> {
  const all = await navigator.mediaDevices.enumerateDevices().catch(() => [] as MediaDeviceInfo[]);
  const pick = (kind: MediaDeviceKind, noun: string) =>
    all
      .filter((d) => d.kind === kind && d.deviceId)
      .map((d, i) => ({ id: d.deviceId, label: d.label || `${noun} ${i + 1}` }));
  return { cameras: pick('videoinput', 'Camera'), microphones: pick('audioinput', 'Microphone') };
}

/** One track of a kind, from the given device (or the default); null when refused or absent. */
export async function openTrack(
  kind: 'audio' | 'video',
  deviceId?: string,
): Promise<MediaStreamTrack | null> {
  const want: MediaTrackConstraints | boolean = deviceId ? { deviceId: { exact: deviceId } } : true;
  try {
    const stream = await navigator.mediaDevices.getUserMedia(
      kind === 'audio' ? { audio: want } : { video: deviceId ? want : { width: 640, height: 480 } },
    );
    return stream.getTracks()[0] ?? null;
  } catch {
    return null;
  }
}

/**
 * A level meter on a microphone track: `read()` answers 0–1 (the loudest
 * sample of the last frame), for a meter the page polls a few times a second.
 */
export function levelMeter(track: MediaStreamTrack): { read(): number; close(): void } {
  const Ctx = window.AudioContext;
  const ctx = new Ctx();
  const source = ctx.createMediaStreamSource(new MediaStream([track]));
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 512;
  source.connect(analyser);
  const buf = new Float32Array(analyser.fftSize);
  return {
    read() {
      // A context created before any user gesture may start suspended.
      if (ctx.state === 'suspended') void ctx.resume().catch(() => {});
      analyser.getFloatTimeDomainData(buf);
      let peak = 0;
      for (const v of buf) peak = Math.max(peak, Math.abs(v));
      return Math.min(1, peak * 1.5);
    },
    close() {
      source.disconnect();
      void ctx.close().catch(() => {});
    },
  };
}
