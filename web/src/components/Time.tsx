import { exactTime, relativeTime } from '../lib/words';

// Time shows a moment relative to now ("5 min ago"), the exact one on hover.
export function Time({ at, now }: { at: string; now?: number }) {
  return <time dateTime={at} title={exactTime(at)}>{relativeTime(at, now)}</time>;
}
