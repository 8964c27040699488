// Reads a heap snapshot written by `cargo run --example heap_snapshot` with
// memlab (Meta's analyser of Chrome DevTools / V8 `.heapsnapshot` files:
// it parses the file as DevTools does and computes dominators and retained
// sizes), and checks what a user of the Memory panel would see:
//
// - one node per live object: the example's `Node`s, its one `Entry` and
//   its one leaked `Session`, under synthetic `(GC roots)`;
// - the retained size of `(GC roots)` is every object's self size;
// - the leaked `Session`'s retainers run `Entry` <- `(Global roots)` <-
//   `(GC roots)`, and `Entry` is its dominator.
//
// Usage: NODE_PATH=<dir with @memlab/heap-analysis> node .ci/heapsnapshot-check.js FILE NODES
'use strict';
const {getFullHeapFromFile} = require('@memlab/heap-analysis');

function fail(msg) {
  console.error(`heapsnapshot-check: ${msg}`);
  process.exit(1);
}

(async () => {
  const [file, nodesArg] = process.argv.slice(2);
  const want = Number(nodesArg);
  const heap = await getFullHeapFromFile(file);
  const count = new Map();
  let selfTotal = 0;
  let roots = null;
  let session = null;
  heap.nodes.forEach(n => {
    count.set(n.name, (count.get(n.name) || 0) + 1);
    selfTotal += n.self_size;
    if (n.name === '(GC roots)') roots = n;
    if (n.name.endsWith('::Session')) session = n;
  });
  const of = suffix => [...count].filter(([k]) => k.endsWith(suffix)).reduce((a, [, v]) => a + v, 0);
  if (of('::Node') !== want) fail(`${of('::Node')} Node objects, expected ${want}`);
  if (of('::Entry') !== 1 || of('::Session') !== 1) {
    fail(`expected one Entry and one Session, got ${of('::Entry')} and ${of('::Session')}`);
  }
  if (!roots) fail('no (GC roots) node');
  if (roots.retainedSize !== selfTotal) {
    fail(`(GC roots) retains ${roots.retainedSize} bytes, the objects' self sizes sum to ${selfTotal}`);
  }
  const chain = [];
  for (let cur = session; cur && chain.length < 8; ) {
    chain.push(cur.name);
    const r = cur.referrers.find(e => e.fromNode && e.fromNode.id !== cur.id);
    cur = r ? r.fromNode : null;
  }
  const got = chain.filter(n => n !== '').join(' <- ');
  const expected = /::Session <- .*::Entry <- \(Global roots\) <- \(GC roots\)$/;
  if (!expected.test(got)) fail(`the Session's retainers are ${got}`);
  const dom = session.dominatorNode && session.dominatorNode.name;
  if (!dom || !dom.endsWith('::Entry')) fail(`the Session's dominator is ${dom}`);
  console.log(`${heap.nodes.length} nodes, ${selfTotal} bytes; the leak: ${got}; dominator ${dom}`);
})().catch(e => fail(e.stack || String(e)));
