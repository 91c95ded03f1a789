import assert from "node:assert/strict";
import { test } from "node:test";
import { direction, pickLanguage } from "./page-language.js";

test("?lang= wins over Accept-Language", () => {
  assert.equal(pickLanguage("ar", "en-US,en;q=0.9"), "ar");
  assert.equal(pickLanguage("en", "ar"), "en");
});

test("Accept-Language: the best-ranked language we have", () => {
  assert.equal(pickLanguage(undefined, "ar-SA,ar;q=0.9,en;q=0.8"), "ar");
  assert.equal(pickLanguage(undefined, "fr-FR, en;q=0.5, ar;q=0.7"), "ar");
  assert.equal(pickLanguage(undefined, "de, fr"), "en");
  assert.equal(pickLanguage(undefined, "ar;q=0, en"), "en");
  assert.equal(pickLanguage("xx", undefined), "en");
});

test("Arabic is right-to-left", () => {
  assert.equal(direction("ar"), "rtl");
  assert.equal(direction("en"), "ltr");
});
