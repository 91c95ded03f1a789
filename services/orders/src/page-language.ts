/** The languages of the customer page. Pure. */
export type Language = "en" | "ar";

/** `?lang=ar|en` first, then the first of Accept-Language's languages we have (by q-value), else English. */
export function pickLanguage(query: unknown, acceptLanguage: string | undefined): Language {
  if (query === "ar" || query === "en") return query;
  const ranked = (acceptLanguage ?? "")
    .split(",")
    .map((part, index) => {
      const [tag = "", ...params] = part.trim().split(";");
      const q = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
      return { lang: tag.toLowerCase().split("-")[0] ?? "", q: q ? Number(q.slice(2)) || 0 : 1, index };
    })
    .filter((x) => x.q > 0)
    .sort((a, b) => b.q - a.q || a.index - b.index);
  for (const { lang } of ranked) if (lang === "ar" || lang === "en") return lang;
  return "en";
}

export function direction(lang: Language): "rtl" | "ltr" {
  return lang === "ar" ? "rtl" : "ltr";
}
