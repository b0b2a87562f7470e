// The response capture of gate.js as plain data in, plain data out (no `r`),
// so the njs CLI can test it (tests/njs/) and lmgate/stats/capture.py can be
// checked against what it produces.
//
// It keeps the first and the last half of the cap (usage sits at both ends of
// a stream) and publishes them to $lmgate_capture when the capture grew by
// half since the last copy (each publish copies it whole into the request
// pool, so publishing geometrically keeps that linear). Between publishes,
// each chunk is also copied once into a ring of TAIL slots ($lmgate_t0..7),
// so a client that hangs up right after the final event (SDKs do, after
// [DONE]) still leaves that event for the usage count. $lmgate_tail =
// "seq,published_seq:len0,...,len7" says how to put the ring back in order.

var TAIL = 8;

// The state of one response's capture; `max` is $lmgate_capture_max.
function create(max) {
    return {
        half: Math.floor(Number(max) / 2),
        head: [], headLen: 0, tail: [], tailLen: 0,
        total: 0, published: 0, publishes: 0, dropped: false,
        seq: 0, publishedSeq: 0, slotLens: [0, 0, 0, 0, 0, 0, 0, 0]
    };
}

// Takes one chunk of the response (`last`: nginx's flags.last) and returns the
// variables to set, named without their `lmgate_` prefix: {capture, tail,
// capture_gap} on a publish, {tN, tail} for a ring slot, {} otherwise.
// `state` is updated in place: copying it per chunk would be quadratic.
function add(state, data, last) {
    var s = state;
    if (data.length) {
        s.seq++;
        s.total += data.length;
        if (s.headLen < s.half) {
            s.head.push(data);
            s.headLen += data.length;
        } else {
            s.tail.push(data);
            s.tailLen += data.length;
            while (s.tail.length > 1 && s.tailLen - s.tail[0].length >= s.half) {
                s.tailLen -= s.tail.shift().length;
                s.dropped = true;
            }
        }
    }
    if (last && s.publishes && s.published === s.total) {
        return {};  // the end of a response published whole already (a JSON answer): the variables hold it
    }
    if (last || (s.total <= 2 * s.half && s.total - s.published >= s.published / 2)) {
        return publish(s);
    }
    var set = {};
    if (data.length) {
        var slot = (s.seq - 1) % TAIL;
        set['t' + slot] = data;
        s.slotLens[slot] = data.length;
        set.tail = s.seq + ',' + s.publishedSeq + ':' + s.slotLens.join(',');
    }
    return set;
}

function publish(s) {
    s.publishes++;
    s.published = s.total;
    s.publishedSeq = s.seq;
    var set = {
        capture: Buffer.concat(s.head.concat(s.tail)),
        tail: s.seq + ',' + s.seq + ':' + s.slotLens.join(',')
    };
    if (s.dropped) {
        set.capture_gap = String(s.headLen);
    }
    return set;
}

export default {TAIL, create, add};
