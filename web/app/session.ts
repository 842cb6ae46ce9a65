/// <reference lib="dom" />
/** Who signed in, read from the platform JWT (the server verifies it; the app only reads who and what role). */
export interface Me {
  userId: string;
  role: 'client' | 'provider' | 'support' | 'clinical' | 'bot' | 'admin';
  token: string;
}

const STORE_KEY = 'talkroom.app.token';

/**
 * The platform's token arrives in the fragment (`/app#token=<JWT>`): never sent
 * to the server in a URL, taken out of the address bar at once (so it is not
 * bookmarked or shared), and kept in sessionStorage so a reload stays signed in.
 */
export function signIn(loc: Location = location): Me | null {
  const params = new URLSearchParams(loc.hash.slice(1));
  const fromHash = params.get('token');
  if (fromHash) {
    try {
      sessionStorage.setItem(STORE_KEY, fromHash);
    } catch {}
    history.replaceState(null, '', loc.pathname + loc.search);
  }
  const token = fromHash ?? safeGet();
  if (!token) return null;
  const claims = readClaims(token);
  if (!claims) return null;
  return { userId: claims.sub, role: claims.role as Me['role'], token };
}

export function signOut(): void {
  try {
    sessionStorage.removeItem(STORE_KEY);
  } catch {}
}

function safeGet(): string | null {
  try {
    return sessionStorage.getItem(STORE_KEY);
  } catch {
    return null;
  }
}

function readClaims(token: string): { sub: string; role: string } | null {
  const part = token.split('.')[1];
  if (!part) return null;
  try {
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
    const json = JSON.parse(atob(b64.padEnd(b64.length + ((4 - (b64.length % 4)) % 4), '=')));
    return typeof json?.sub === 'string' && typeof json?.role === 'string' ? json : null;
  } catch {
    return null;
  }
}
