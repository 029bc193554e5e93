// The step-through page: loads its parts and starts the first run. The parts (no import cycle:
// each imports only those listed above it):
//   step-context.js   URL state, elements, the run being shown (`page`), the message lines
//   step-live.js      live typing: one step per typed character
//   step-render.js    render(trace, t), the Code panel, the chart redraws
//   step-player.js    the player, its buttons and keys
//   step-run.js       the request (incl. gate holds), the trace stream, the Find-the-unit panel
//   step-controls.js  the form <-> state, the selects, the classroom seam (pagelink.js)
//   step-weights.js   weights and vocabulary uploads, the trained-model hand-off, exports
//   step-gallery.js   ?model=<slug>: a trained model from the gallery (the default view)
import { joiningClass } from "./pagelink.js";
import { traceKey } from "./state.js";
import { page, state } from "./step-context.js";
import { fillControls, setFast } from "./step-controls.js";
import { need } from "./step-exact.js";
import { player } from "./step-player.js";
import { run } from "./step-run.js";
import { openGalleryModel } from "./step-gallery.js";
import { adoptTrainedModel } from "./step-weights.js";

adoptTrainedModel();
await openGalleryModel(); // ?model=<slug>, and the page with no parameters: a trained model
fillControls();
setFast();
if (!joiningClass()) run(); // a class's follower starts with the teacher's state (classroom.js)
// Exposed for debugging in the console and for the browser tests' diagnostics.
// need(units): the exact numbers of these units of the layer shown too (lessons read them).
globalThis.lstmExplainer = { state, get trace() { return page.trace; }, player, traceKey, need };
