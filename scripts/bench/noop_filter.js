// --ablate's "filter-noop" row: a js_body_filter that only passes each chunk on. What it costs over
// "no-capture" is the body filter's own njs VM (internalRedirect cleared the first one) and a call per
// chunk; what "full" costs over it is the capture's work (nginx/njs/capture.js, its variables).
function pass(r, data, flags) {
    r.sendBuffer(data, flags);
}

export default {pass};
