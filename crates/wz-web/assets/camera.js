// The camera: open it, grab JPEG frames, and run a guided liveness capture
// (the local service says when a frame shows the asked step).
import { api, sleep } from './common.js';

export async function openCamera(video) {
  const stream = await navigator.mediaDevices.getUserMedia({
    video: { width: { ideal: 640 }, height: { ideal: 480 }, facingMode: 'user' },
    audio: false,
  });
  video.srcObject = stream;
  await video.play();
  return stream;
}

export function grab(video, canvas) {
  canvas.width = video.videoWidth || 640;
  canvas.height = video.videoHeight || 480;
  canvas.getContext('2d').drawImage(video, 0, 0, canvas.width, canvas.height);
  return new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', 0.92));
}

/**
 * Captures one frame per step — facing the camera, then each asked action —
 * sending frames until the service keeps one. `onStep(name, index, count)`
 * shows the prompt. Throws after `stepTimeoutMs` on one step.
 */
export async function guidedCapture({ video, canvas, challengeId, actions, onStep, stepTimeoutMs = 30000 }) {
  const steps = ['face_front', ...actions];
  for (let i = 0; i < steps.length; i++) {
    onStep(steps[i], i, steps.length);
    const deadline = performance.now() + stepTimeoutMs;
    for (;;) {
      if (performance.now() > deadline) throw new Error('capture_timeout');
      const blob = await grab(video, canvas);
      const r = await api(`/api/pose?challenge=${encodeURIComponent(challengeId)}&step=${i}`, {
        method: 'POST', body: blob, headers: { 'content-type': 'image/jpeg' },
      });
      if (r.ok) break;
      await sleep(150);
    }
  }
}

/** Prompt keys for capture steps. */
export const STEP_TEXT = {
  face_front: 'step_front', turn_left: 'step_left', turn_right: 'step_right',
  open_mouth: 'step_mouth', blink: 'step_blink', nod: 'step_nod',
};

export const STEP_TEXTS = {
  zh: { step_front: '请正对摄像头', step_left: '请向左转头', step_right: '请向右转头',
    step_mouth: '请张嘴', step_blink: '请眨眼', step_nod: '请点头', capture_timeout: '未能完成人脸采集，请重试' },
  en: { step_front: 'Look straight at the camera', step_left: 'Turn your head left', step_right: 'Turn your head right',
    step_mouth: 'Open your mouth', step_blink: 'Blink', step_nod: 'Nod', capture_timeout: 'The face capture did not finish; try again' },
};
