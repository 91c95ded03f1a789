import { readFileSync } from "node:fs";
import { Controller, Get, Headers, Param, Query, Res } from "@nestjs/common";
import { Public } from "@pinflow/auth";
import type { Response } from "express";
import { direction, pickLanguage } from "./page-language.js";
import { ORDER_PAGE_STRINGS } from "./page-strings.js";

const PUBLIC_DIR = new URL("../public/", import.meta.url);
const ASSETS: Record<string, string> = {
  "order-page.js": "text/javascript; charset=utf-8",
  "console.js": "text/javascript; charset=utf-8",
  "pages.css": "text/css; charset=utf-8",
};
/** Scripts and styles only from our own files; data only from our own API; never framed. */
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** JSON inside <script type="application/json">: `<` escaped so no text can close the element. */
function jsonForHtml(value: unknown): string {
  return JSON.stringify(value).replace(/</g, "\\u003c");
}

function page(res: Response, html: string): void {
  res.setHeader("Content-Type", "text/html; charset=utf-8");
  res.setHeader("Content-Security-Policy", CSP);
  res.setHeader("Referrer-Policy", "no-referrer");
  res.setHeader("X-Content-Type-Options", "nosniff");
  res.setHeader("Cache-Control", "no-store");
  res.status(200).send(html);
}

/**
 * The customer's order page and the operator console: plain HTML and a small script each, served
 * without a key because they hold no data. The order page reads its stream token from the URL
 * fragment (`#token=…`, never sent to a server) and follows the live stream; the console asks for
 * an operator key, keeps it in the tab's sessionStorage and sends it as a Bearer header.
 */
@Controller()
export class PagesController {
  private readonly assets = new Map(Object.keys(ASSETS).map((name) => [name, readFileSync(new URL(name, PUBLIC_DIR))]));

  @Get("orders/:id")
  @Public()
  orderPage(@Param("id") id: string, @Query("lang") lang: unknown, @Headers("accept-language") accept: string | undefined, @Res() res: Response): void {
    const language = pickLanguage(lang, accept);
    const strings = ORDER_PAGE_STRINGS[language];
    res.setHeader("Vary", "Accept-Language");
    page(
      res,
      `<!doctype html>
<html lang="${language}" dir="${direction(language)}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="referrer" content="no-referrer">
<title>${escapeHtml(strings.title!)}</title><link rel="stylesheet" href="/assets/pages.css"></head>
<body class="order-page">
<main>
  <h1>${escapeHtml(strings.title!)}</h1>
  <p id="connection" class="connection" data-state="connecting"></p>
  <section id="status" class="status" data-status="loading" aria-live="polite"><h2 id="status-text">${escapeHtml(strings.status_loading!)}</h2><p id="help"></p></section>
  <section id="pin-box" class="pin" hidden><h2>${escapeHtml(strings.pin!)}</h2><p><code id="pin" dir="ltr"></code> <button id="copy" type="button">${escapeHtml(strings.copy!)}</button></p></section>
  <dl class="facts">
    <dt>${escapeHtml(strings.order!)}</dt><dd id="order-id" dir="ltr">${escapeHtml(id)}</dd>
    <dt>${escapeHtml(strings.package!)}</dt><dd id="package" dir="ltr"></dd>
    <dt>${escapeHtml(strings.player!)}</dt><dd id="player" dir="ltr"></dd>
    <dt>${escapeHtml(strings.updated!)}</dt><dd id="updated"></dd>
  </dl>
</main>
<script type="application/json" id="page-data">${jsonForHtml({ orderId: id, lang: language, strings })}</script>
<script src="/assets/order-page.js"></script>
</body></html>`,
    );
  }

  @Get("console")
  @Public()
  console(@Res() res: Response): void {
    page(res, CONSOLE_HTML);
  }

  @Get("assets/:file")
  @Public()
  asset(@Param("file") file: string, @Res() res: Response): void {
    const body = this.assets.get(file);
    if (!body) {
      res.status(404).json({ error: { code: "not_found", message: "no such file" } });
      return;
    }
    res.setHeader("Content-Type", ASSETS[file]!);
    res.setHeader("X-Content-Type-Options", "nosniff");
    res.setHeader("Cache-Control", "no-cache");
    res.status(200).send(body);
  }
}

const CONSOLE_HTML = `<!doctype html>
<html lang="en" dir="ltr">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="referrer" content="no-referrer">
<title>pinflow operator console</title><link rel="stylesheet" href="/assets/pages.css"></head>
<body class="console">
<header><h1>pinflow — operators</h1><span id="who"></span> <button id="sign-out" type="button" hidden>Forget key</button></header>
<form id="sign-in" autocomplete="off">
  <label>Operator API key <input id="key" type="password" placeholder="pf_…" size="60" required></label>
  <button type="submit">Use this key</button>
  <p class="note">Kept in this tab only (sessionStorage) and sent as <code>Authorization: Bearer</code>; closing the tab forgets it.</p>
</form>
<p id="message" role="status"></p>
<div id="app" hidden>
  <section id="figures-box"><h2>At a glance</h2><div id="figures" class="figures"></div></section>
  <section id="providers-box"><h2>Providers</h2><table id="providers"><thead><tr><th>provider</th><th>balance</th><th>circuit</th><th>paused</th><th>shut out</th><th>poller hold</th></tr></thead><tbody></tbody></table></section>
  <section id="review-box"><h2>Review queue <button id="review-refresh" type="button">Refresh</button></h2><table id="review"><thead><tr><th>order</th><th>tenant</th><th>package</th><th>provider</th><th>reason</th><th>note</th><th>waiting</th></tr></thead><tbody></tbody></table></section>
  <section id="orders-box"><h2>Orders</h2>
    <form id="filters">
      <label>status <select name="status"><option value="">any</option><option>pending</option><option>processing</option><option>completed</option><option>failed</option><option>review</option></select></label>
      <label>package <input name="packageId" size="14"></label>
      <label>provider <select name="provider"><option value="">any</option><option>znet</option><option>xstor</option></select></label>
      <label>player <input name="player" size="14" placeholder="starts with"></label>
      <label>from <input name="from" type="datetime-local"></label>
      <label>to <input name="to" type="datetime-local"></label>
      <label>order id <input name="orderId" size="24"></label>
      <button type="submit">Search</button>
    </form>
    <table id="orders"><thead><tr><th>order</th><th>status</th><th>package</th><th>provider</th><th>player</th><th>created</th></tr></thead><tbody></tbody></table>
    <button id="more" type="button" hidden>More</button>
  </section>
  <section id="order-box" hidden><h2>Order <code id="order-title"></code></h2>
    <dl id="order-facts" class="facts"></dl>
    <div id="actions" hidden>
      <form id="complete-form"><strong>Complete with PIN</strong> <input name="pin" placeholder="PIN" required> <input name="reason" placeholder="reason" required> <button type="submit">Complete</button></form>
      <form id="fail-form"><strong>Fail</strong> <select name="reasonCode"><option>operator_failed</option><option>provider_cancelled</option></select> <input name="reason" placeholder="reason" required> <button type="submit">Fail</button></form>
      <p><button id="recheck" type="button">Check again now</button> <button id="dispatch-again" type="button">Dispatch again…</button></p>
    </div>
    <h3>Timeline</h3><ol id="timeline"></ol>
  </section>
</div>
<script src="/assets/console.js"></script>
</body></html>`;
