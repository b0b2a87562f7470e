// For tests/njs/test_capture.py: reads [{max, chunks: [base64], last}] (`last` as
// in ring.js) from the file named by the first argument and writes to the file
// named by the second what capture.js leaves in the stats line's variables for
// each: {capture, gap, tail, ring: [t0..t7]}, bytes in base64. (A file, not
// stdout: the CLI's console.log cuts long lines.)
import fs from 'fs';
import capture from 'capture.js';
import ring from 'ring.js';

var cases = JSON.parse(fs.readFileSync(process.argv[2]));
var out = cases.map(function (c) {
    var chunks = c.chunks.map(function (b) { return Buffer.from(b, 'base64'); });
    var vars = ring.feed(c.max, chunks, c.last);
    var slots = [];
    for (var i = 0; i < capture.TAIL; i++) {
        slots.push(Buffer.from(vars['t' + i] || '').toString('base64'));
    }
    return {
        capture: Buffer.from(vars.capture).toString('base64'),
        gap: vars.capture_gap,
        tail: vars.tail,
        ring: slots
    };
});
fs.writeFileSync(process.argv[3], JSON.stringify(out));
