/**
 * The test command's check of deploy/: renders every overlay with `kubectl kustomize` and validates
 * every object against the Kubernetes schemas (offline). `node test/dist/deploy/validate-overlays.js`
 */
import { overlayNames, validateOverlays } from "./overlays.js";

const names = overlayNames();
const { objects, problems } = await validateOverlays(names);
if (problems.length > 0) {
  console.error(`deploy: ${problems.length} problem(s):\n  ${problems.join("\n  ")}`);
  process.exit(1);
}
console.log(`deploy: ${names.length} overlays (${names.join(", ")}), ${objects} objects valid`);
