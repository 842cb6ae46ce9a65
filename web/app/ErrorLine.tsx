/** A request's failure, shown where it was made and announced to screen readers; nothing without one. */
export function ErrorLine({ error }: { error: string | null }) {
  if (!error) return null;
  return (
    <p class="error" role="alert">
      {error}
    </p>
  );
}
