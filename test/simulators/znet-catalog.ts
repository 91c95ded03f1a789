/** The znet simulator's built-in product list (pin_listesi items, field names as on the wire). */
export interface ZnetSimProduct {
  id: number;
  adi: string;
  aciklama: string;
  oyun_id: number;
  oyun_adi: string;
  /** Reseller cost, a decimal string as znet sends it. */
  fiyat: string;
  kupur: string;
  oyun_bilgi_id: number;
}

export const ZNET_SIM_CATALOG: readonly ZnetSimProduct[] = [
  { id: 1, adi: "PUBG Mobile 60 UC", aciklama: "PUBG Mobile 60 UC (Global)", oyun_id: 11, oyun_adi: "PUBG Mobile", fiyat: "10.12", kupur: "60", oyun_bilgi_id: 101 },
  { id: 2, adi: "PUBG Mobile 325 UC", aciklama: "PUBG Mobile 325 UC (Global)", oyun_id: 11, oyun_adi: "PUBG Mobile", fiyat: "50.60", kupur: "325", oyun_bilgi_id: 101 },
  { id: 3, adi: "Free Fire 100 Elmas", aciklama: "Free Fire 100 Diamond", oyun_id: 22, oyun_adi: "Free Fire", fiyat: "18.75", kupur: "100", oyun_bilgi_id: 202 },
];

export function findSimProduct(oyun: string, kupur: string): ZnetSimProduct | undefined {
  return ZNET_SIM_CATALOG.find((p) => String(p.oyun_bilgi_id) === oyun && p.kupur === kupur);
}
