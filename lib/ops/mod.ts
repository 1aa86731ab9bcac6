/**
 * The backend-neutral ops of this toolkit, with their gradients and the
 * kernel names a backend registers to run them fused: training batch norm
 * (ReLU optionally fused) and its running averages, `relu(a + b)`, the option-A shortcut, the
 * SGD-momentum update and ReLU's gradient; Lab 1's linear layer (ReLU
 * optionally fused), MSE loss and Adam update of every parameter at once;
 * ResNet20's global average pool and softmax cross-entropy, SGD of every
 * parameter at once, and a training batch augmented on the device from its
 * images' bytes. Each op is also written in plain
 * tfjs ops, which run on any backend and are the reference its kernels are
 * tested against. Models and trainers import ops only from here; backends
 * (`lib/native/`, `lib/webgpu/`) import the kernel names from here to
 * register their kernels. Importing this registers tfjs's gradients.
 *
 * @module
 */
import "./gradients.ts";

export {
  batchNormTrain,
  type BatchNormTrainResult,
  BN_TRAIN_GRAD_KERNEL,
  BN_TRAIN_KERNEL,
} from "./batch_norm_train.ts";
export {
  type BatchNormRunningAttrs,
  batchNormRunningUpdate,
  batchNormRunningUpdateAll,
  BN_RUNNING_ALL_KERNEL,
  BN_RUNNING_KERNEL,
  type RunningUpdate,
} from "./batch_norm_running.ts";
export { ADD_RELU_KERNEL, addRelu, SHORTCUT_GRAD_KERNEL, SHORTCUT_KERNEL, shortcutA } from "./residual.ts";
export { onBackend, registerGradientOnce } from "./kernel_dispatch.ts";
export {
  AUGMENT_BATCH_KERNEL,
  augmentBatch,
  type AugmentBatchAttrs,
  type AugmentBatchInputs,
  augmentBatchReference,
} from "./augment_batch.ts";
export { fuseReluGradient, RELU_GRAD_KERNEL, reluGrad } from "./relu_grad.ts";
export {
  type Collect,
  type Collector,
  type CompiledStep,
  type KernelTime,
  registerStepCompiler,
  type StepCompiler,
  stepCompiler,
  type StepInput,
  type StepSpec,
} from "./compiled_step.ts";
export {
  SGD_MOMENTUM_ALL_KERNEL,
  SGD_MOMENTUM_KERNEL,
  type SgdMomentumAttrs,
  sgdMomentumStep,
  sgdMomentumStepAll,
} from "./sgd_update.ts";
export { GLOBAL_AVG_POOL_GRAD_KERNEL, GLOBAL_AVG_POOL_KERNEL, globalAvgPool } from "./global_avg_pool.ts";
export {
  SOFTMAX_CE_GRAD_KERNEL,
  SOFTMAX_CE_KERNEL,
  softmaxCrossEntropy,
  type SoftmaxCrossEntropyOptions,
  softmaxCrossEntropyReference,
} from "./softmax_cross_entropy.ts";
export { linear, LINEAR_GRAD_KERNEL, LINEAR_KERNEL, type LinearOptions, linearReference } from "./linear.ts";
export { MSE_GRAD_KERNEL, MSE_KERNEL, mseLoss, mseLossReference } from "./mse_loss.ts";
export {
  ADAM_KERNEL,
  type AdamAttrs,
  adamScalars,
  type AdamState,
  adamUpdate,
  adamUpdateReference,
} from "./adam_update.ts";
