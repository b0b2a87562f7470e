// The capture ring of gate.js (nginx/njs/capture.js), as a {name, input,
// expected} table: `input` is the cap, the chunks and how the last call comes
// (see ring.js); `expected` the variables the stats line gets ($lmgate_capture,
// $lmgate_capture_gap, $lmgate_tail, the ring slots $lmgate_tN that were set)
// and how many times the capture was published.
// Run: njs -p nginx/njs tests/njs/capture_test.js (tests/njs/test_capture.py does).
import ring from 'ring.js';

var EMPTY_RING = '0,0,0,0,0,0,0,0';

function repeat(ch, n) {
    return new Array(n + 1).join(ch);
}

var cases = [
    {
        name: 'a small response is published whole at each chunk; its empty end copies nothing again',
        input: {max: 100, chunks: ['abc', 'def'], last: 'empty'},
        expected: {capture: 'abcdef', capture_gap: '', tail: '2,2:' + EMPTY_RING, publishes: 2}
    },
    {
        name: 'an empty response is published once, at its end',
        input: {max: 100, chunks: [], last: 'empty'},
        expected: {capture: '', capture_gap: '', tail: '0,0:' + EMPTY_RING, publishes: 1}
    },
    {
        name: 'the end publishes what waited in the ring',
        input: {max: 1000, chunks: ['aaaaaaaaaa', 'bbbbbbbbbb', 'cccccccccc', 'dddddddddd'], last: 'empty'},
        expected: {
            capture: 'aaaaaaaaaabbbbbbbbbbccccccccccdddddddddd', capture_gap: '',
            tail: '4,4:0,0,0,10,0,0,0,0', t3: 'dddddddddd', publishes: 4
        }
    },
    {
        name: 'the last flag on the final chunk publishes it',
        input: {max: 1000, chunks: ['aaaaaaaaaa', 'bbbbbbbbbb', 'cccccccccc', 'dddddddddd'], last: 'chunk'},
        expected: {
            capture: 'aaaaaaaaaabbbbbbbbbbccccccccccdddddddddd', capture_gap: '',
            tail: '4,4:' + EMPTY_RING, publishes: 4
        }
    },
    {
        name: 'publishing is geometric: a chunk that grew the capture by less than half waits in the ring',
        input: {max: 1000, chunks: ['aaaaaaaaaa', 'bbbbbbbbbb', 'cccccccccc', 'dddddddddd'], last: 'none'},
        expected: {
            capture: 'aaaaaaaaaabbbbbbbbbbcccccccccc', capture_gap: '',
            tail: '4,3:0,0,0,10,0,0,0,0', t3: 'dddddddddd', publishes: 3
        }
    },
    {
        name: 'more than eight chunks between publishes overwrite the oldest slots',
        input: {max: 10000, chunks: [repeat('x', 100), '0', '1', '2', '3', '4', '5', '6', '7', '8', '9'], last: 'none'},
        expected: {
            capture: repeat('x', 100), capture_gap: '', tail: '11,1:1,1,1,1,1,1,1,1',
            t0: '7', t1: '8', t2: '9', t3: '2', t4: '3', t5: '4', t6: '5', t7: '6', publishes: 1
        }
    },
    {
        name: 'past the cap the middle is dropped and the gap marks where the head ends',
        input: {max: 20, chunks: ['AAAA', 'BBBB', 'CCCC', 'DDDD', 'EEEE', 'FFFF', 'GGGG'], last: 'empty'},
        expected: {
            capture: 'AAAABBBBCCCCEEEEFFFFGGGG', capture_gap: '12', tail: '7,7:0,0,0,4,0,4,4,0',
            t3: 'DDDD', t5: 'FFFF', t6: 'GGGG', publishes: 5
        }
    },
    {
        name: 'a first chunk larger than the cap is kept whole and published only at the end',
        input: {max: 10, chunks: ['abcdefghijklmnop', 'qr'], last: 'empty'},
        expected: {
            capture: 'abcdefghijklmnopqr', capture_gap: '', tail: '2,2:16,2,0,0,0,0,0,0',
            t0: 'abcdefghijklmnop', t1: 'qr', publishes: 1
        }
    },
    {
        name: 'an empty chunk without the last flag sets nothing',
        input: {max: 100, chunks: ['abc', ''], last: 'none'},
        expected: {capture: 'abc', capture_gap: '', tail: '1,1:' + EMPTY_RING, publishes: 1}
    },
    {
        name: 'an odd cap keeps two halves rounded down',
        input: {max: 9, chunks: ['abcd', 'efgh', 'ijkl'], last: 'empty'},
        expected: {
            capture: 'abcdijkl', capture_gap: '4', tail: '3,3:0,0,4,0,0,0,0,0', t2: 'ijkl', publishes: 3
        }
    }
];

function actual(input) {
    var chunks = input.chunks.map(function (c) { return Buffer.from(c); });
    var vars = ring.feed(input.max, chunks, input.last);
    var got = {};
    for (var name in vars) {
        got[name] = typeof vars[name] === 'number' ? vars[name] : Buffer.from(vars[name]).toString();
    }
    return got;
}

var failed = 0;
cases.forEach(function (c) {
    var got = actual(c.input);
    var want = JSON.stringify(c.expected, Object.keys(got).sort());
    var have = JSON.stringify(got, Object.keys(got).sort());
    var extra = Object.keys(c.expected).filter(function (k) { return !(k in got); });
    if (want !== have || extra.length) {
        failed++;
        console.log('FAIL ' + c.name + '\n  expected ' + want + (extra.length ? ' (and ' + extra + ')' : '') +
                    '\n  got      ' + have);
    } else {
        console.log('ok   ' + c.name);
    }
});
console.log((cases.length - failed) + ' passed, ' + failed + ' failed');
if (failed) {
    throw new Error(failed + ' capture case(s) failed');
}
