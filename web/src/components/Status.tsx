// A status badge. Any string renders: statuses added later (pending, lost)
// get the neutral style until the stylesheet learns them.
export function Status({ status, place }: { status: string; place?: number }) {
  return (
    <span className={`badge st-${status.replace(/[^a-z_-]/gi, '')}`}>
      {status}
      {place !== undefined && status === 'pending' ? ` #${place}` : ''}
    </span>
  );
}
