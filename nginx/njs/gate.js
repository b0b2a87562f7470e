// lmgate's njs glue. It decides nothing: it asks the sidecar, then forwards the
// request (untouched, or with the headers/URI/body the sidecar replaced) or
// returns the sidecar's refusal, and copies the response into variables for
// the stats line nginx writes to the spool (access_log ... lmgate_spool).

import captureRing from 'capture.js';

// Reply headers of /auth that are the sidecar's own business, not the client's.
var NOT_FORWARDED = {
    'connection': 1, 'content-length': 1, 'date': 1, 'keep-alive': 1, 'server': 1,
    'transfer-encoding': 1, 'x-lmgate-verdict': 1, 'x-lmgate-ctx': 1
};
var SET_PREFIX = 'x-lmgate-set-';

function handle(r) {
    var provider = r.variables.lmgate_provider;
    var prefix = r.variables.lmgate_prefix;
    var uri = r.variables.request_uri;
    // nginx matched the normalised URI; the raw one must carry the same prefix,
    // or stripping it would forward a path the client did not mean.
    if (uri.substring(0, prefix.length + 1) !== prefix + '/') {
        r.internalRedirect('@lmgate_' + provider + '_400');
        return;
    }
    r.subrequest('/_lmgate/auth', {method: 'POST'}).then(function (reply) {
        var verdict = reply.headersOut['X-Lmgate-Verdict'];
        if (verdict === 'allow') {
            // returned: a failed body fetch must reach the .catch below (503), or the request hangs
            return allow(r, reply, provider, uri.substring(prefix.length));
        } else if (verdict === 'deny') {
            refuse(r, reply);
        } else {
            // No verdict: sidecar down, timed out or broken. Fail closed.
            r.error('lmgate: /auth answered ' + reply.status + ' without a verdict; refusing with 503');
            r.internalRedirect('@lmgate_' + provider + '_503');
        }
    }).catch(function (e) {
        r.error('lmgate: /auth failed: ' + e);
        r.internalRedirect('@lmgate_' + provider + '_503');
    });
}

function allow(r, reply, provider, upstreamUri) {
    var h = reply.headersOut;
    r.variables.lmgate_ctx = h['X-Lmgate-Ctx'] || '';
    r.variables.lmgate_upstream_uri = h['X-Lmgate-Upstream-Uri'] || upstreamUri;
    r.variables.lmgate_auth_time = r.variables.request_time;
    // A rewrite names replacement headers; the rewrite location sends exactly those. The sidecar marks
    // every rewrite, so the common answer (no rewrite) is not walked header by header.
    var rewrite = Boolean(h['X-Lmgate-Rewrite']);
    if (rewrite) {
        for (var name in h) {
            var lower = name.toLowerCase();
            if (lower.substring(0, SET_PREFIX.length) === SET_PREFIX) {
                r.variables['lmgate_h_' + lower.substring(SET_PREFIX.length).replace(/-/g, '_')] = h[name];
            }
        }
    }
    var bodyId = h['X-Lmgate-Body'];
    if (!bodyId) {
        r.internalRedirect('@lmgate_' + provider + (rewrite ? '_rewrite' : '_upstream'));
        return;
    }
    // A replaced body (DLP redaction) is fetched only when there is one, so the
    // common /auth answer stays small.
    return r.subrequest('/_lmgate/body', {args: 'id=' + bodyId}).then(function (body) {
        if (body.status !== 200) {
            throw new Error('replacement body ' + bodyId + ' answered ' + body.status);
        }
        r.variables.lmgate_body = body.responseBuffer;
        r.internalRedirect('@lmgate_' + provider + '_rewrite_body');
    });
}

function refuse(r, reply) {
    var h = reply.headersOut;
    for (var name in h) {
        if (!NOT_FORWARDED[name.toLowerCase()] && typeof h[name] === 'string') {
            r.headersOut[name] = h[name];
        }
    }
    r.return(reply.status, reply.responseText);
}

// Response capture (capture.js): each chunk goes on first, then into the
// capture, whose variables feed the stats line. The state lives in this
// request's VM, like every top-level variable of an njs module.
var ring = null;
// nginx ends a response the provider broke off (no byte for proxy_read_timeout, or the connection closed
// early) with an empty flush that is not the last buffer, and calls the request complete: the stats line
// learns it here. nginx pushes its read timer forward lazily (by 300 ms steps), so it may fire that much
// before the full timeout has passed since the last byte.
var TIMER_LAZINESS_MS = 300;
var calls = 0, lastRead = 0, cutMarked = false;

function capture(r, data, flags) {
    r.sendBuffer(data, flags);
    calls++;
    if (data.length || calls === 1) {
        lastRead = Date.now();
    }
    if (!data.length && !flags.last && calls > 1) {
        markCut(r);
    } else if (cutMarked) {  // more came after all: it was no end
        cutMarked = false;
        r.variables.lmgate_error = '';
    }
    if (ring === null) {
        ring = captureRing.create(r.variables.lmgate_capture_max);
    }
    var set = captureRing.add(ring, data, flags.last);
    for (var name in set) {
        r.variables['lmgate_' + name] = set[name];
    }
}

function markCut(r) {
    var silent = Date.now() - lastRead;
    var timeout = Number(r.variables.lmgate_upstream_timeout_ms);
    cutMarked = true;
    r.variables.lmgate_error = silent >= timeout - TIMER_LAZINESS_MS ? 'upstream_timeout' : 'upstream_closed';
}

export default {handle, capture};
