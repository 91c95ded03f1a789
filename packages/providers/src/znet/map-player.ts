/**
 * DESIGN.md §7 field mapping for znet: the player id goes to `oyuncu_bilgi`; the extra
 * field goes to `musteri_tel` when it looks like a phone number, otherwise it is appended
 * to `oyuncu_bilgi` after one space.
 */
export interface ZnetPlayerFields {
  oyuncuBilgi: string;
  musteriTel: string | null;
}

const PHONE = /^\+?\d{9,15}$/;

/** The phone number (spaces removed) if `text` looks like one: 9–15 digits, optional leading `+`. */
export function asPhone(text: string): string | null {
  const compact = text.replace(/\s+/g, "");
  return PHONE.test(compact) ? compact : null;
}

export function mapPlayer(playerId: string, extra: string | null): ZnetPlayerFields {
  const player = playerId.trim();
  const rest = (extra ?? "").trim();
  if (rest === "") return { oyuncuBilgi: player, musteriTel: null };
  const phone = asPhone(rest);
  if (phone !== null) return { oyuncuBilgi: player, musteriTel: phone };
  return { oyuncuBilgi: `${player} ${rest}`, musteriTel: null };
}
