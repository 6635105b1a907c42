// A status badge. Any string renders: statuses added later (pending, lost)
// get the neutral style until the stylesheet learns them.
export function Status({ status, place, label }: { status: string; place?: number; label?: string }) {
  return (
    <span className={`badge st-${status.replace(/[^a-z_-]/gi, '')}`}>
      {label ?? status}
      {place !== undefined && status === 'pending' ? ` #${place}` : ''}
    </span>
  );
}
