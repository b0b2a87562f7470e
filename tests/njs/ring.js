// Feeds chunks through capture.js as gate.js does and keeps the variables it
// sets, as nginx would for the stats line.
import capture from 'capture.js';

// `chunks`: Buffers; `last`: how nginx's call with flags.last comes: 'empty'
// (an empty buffer after the last chunk, as with a chunked upstream), 'chunk'
// (with the last chunk) or 'none' (the client hung up first).
function feed(max, chunks, last) {
    var state = capture.create(max);
    var vars = {capture: '', capture_gap: '', tail: ''};
    var publishes = 0;
    var calls = chunks.map(function (c, i) { return [c, last === 'chunk' && i === chunks.length - 1]; });
    if (last === 'empty') {
        calls.push([Buffer.alloc(0), true]);
    }
    calls.forEach(function (call) {
        var set = capture.add(state, call[0], call[1]);
        if (set.capture !== undefined) {
            publishes++;
        }
        for (var name in set) {
            vars[name] = set[name];
        }
    });
    vars.publishes = publishes;
    return vars;
}

export default {feed};
