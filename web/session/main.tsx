/// <reference lib="dom" />
// The session page a join link opens (PUBLIC_URL/join/<joinToken>).
import './session.css';
import '../client.ts';
