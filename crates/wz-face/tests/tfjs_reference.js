// The reference half of tests/tfjs_reference.rs: loads a TFJS graph model
// with @tensorflow/tfjs (pure-JavaScript CPU backend) exactly as the
// browser library does, runs it on a raw little-endian f32 NHWC input and
// prints the named output as JSON.
// usage: node tfjs_reference.js MODELS_DIR NAME INPUT.f32 H W C OUTPUT
const tf = require('@tensorflow/tfjs');
const fs = require('fs');
const path = require('path');

// face-api's FaceRecognitionNet.forwardInput (src/faceRecognitionNet in
// @vladmandic/face-api 1.7.15), transcribed op for op: that package ships
// the weights only, the network is its code. Input already normalised.
function faceApiResnet(x, w) {
  const scale = (t, p) => tf.add(tf.mul(t, w[`${p}/scale/weights`]), w[`${p}/scale/biases`]);
  const convLayer = (t, p, strides, relu, padding = 'same') => {
    let out = tf.conv2d(t, w[`${p}/conv/filters`], strides, padding);
    out = tf.add(out, w[`${p}/conv/bias`]);
    out = scale(out, p);
    return relu ? tf.relu(out) : out;
  };
  const conv = (t, p) => convLayer(t, p, [1, 1], true);
  const convNoRelu = (t, p) => convLayer(t, p, [1, 1], false);
  const convDown = (t, p) => convLayer(t, p, [2, 2], true, 'valid');
  const residual = (t, p) => tf.relu(tf.add(convNoRelu(conv(t, `${p}/conv1`), `${p}/conv2`), t));
  const residualDown = (t, p) => {
    let out = convNoRelu(convDown(t, `${p}/conv1`), `${p}/conv2`);
    let pooled = tf.avgPool(t, 2, 2, 'valid');
    const zeros = tf.zeros(pooled.shape);
    const isPad = pooled.shape[3] !== out.shape[3];
    if (pooled.shape[1] !== out.shape[1] || pooled.shape[2] !== out.shape[2]) {
      const padX = [...out.shape]; padX[1] = 1;
      out = tf.concat([out, tf.zeros(padX)], 1);
      const padY = [...out.shape]; padY[2] = 1;
      out = tf.concat([out, tf.zeros(padY)], 2);
    }
    pooled = isPad ? tf.concat([pooled, zeros], 3) : pooled;
    return tf.relu(tf.add(pooled, out));
  };
  let out = convDown(x, 'conv32_down');
  out = tf.maxPool(out, 3, 2, 'valid');
  for (const p of ['conv32_1', 'conv32_2', 'conv32_3']) out = residual(out, p);
  out = residualDown(out, 'conv64_down');
  for (const p of ['conv64_1', 'conv64_2', 'conv64_3']) out = residual(out, p);
  out = residualDown(out, 'conv128_down');
  for (const p of ['conv128_1', 'conv128_2']) out = residual(out, p);
  out = residualDown(out, 'conv256_down');
  for (const p of ['conv256_1', 'conv256_2']) out = residual(out, p);
  out = residualDown(out, 'conv256_down_out');
  return tf.matMul(out.mean([1, 2]), w.fc);
}

async function main() {
  const [dir, name, input, h, w, c, output] = process.argv.slice(2);
  if (name === 'face_recognition_model') {
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, name + '-weights_manifest.json')));
    const bin = Buffer.concat(manifest.flatMap((g) => g.paths.map((p) => fs.readFileSync(path.join(dir, p)))));
    const weights = tf.io.decodeWeights(
      bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength),
      manifest.flatMap((g) => g.weights),
    );
    const raw = fs.readFileSync(input);
    const x = tf.tensor4d(new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4), [1, +h, +w, +c]);
    process.stdout.write(JSON.stringify(Array.from(faceApiResnet(x, weights).dataSync())));
    return;
  }
  const json = JSON.parse(fs.readFileSync(path.join(dir, name + '.json')));
  const shards = [];
  for (const group of json.weightsManifest) {
    for (const p of group.paths) shards.push(fs.readFileSync(path.join(dir, p)));
  }
  const all = Buffer.concat(shards);
  const model = await tf.loadGraphModel(tf.io.fromMemory({
    modelTopology: json.modelTopology,
    weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
    weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength),
    format: json.format,
    generatedBy: json.generatedBy,
    convertedBy: json.convertedBy,
    signature: json.signature,
  }));
  const raw = fs.readFileSync(input);
  const data = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
  const x = tf.tensor4d(data, [1, +h, +w, +c]);
  const out = model.execute(x, output);
  process.stdout.write(JSON.stringify(Array.from(out.dataSync())));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
