/// <reference lib="dom" />
// The reference web app (/app): a placeholder until the rooms, booking and provider views land.
import { render } from 'preact';
import './app.css';

function App() {
  return (
    <main>
      <h1>talkroom</h1>
    </main>
  );
}

const root = document.getElementById('root');
if (root) render(<App />, root);
