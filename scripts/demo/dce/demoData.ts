// What the demo AI platform's APIs answer: made-up GPU clusters, training jobs and inference
// services (baize.io is DCE's AI Lab).
export const CLUSTERS = [
  {
    name: 'gpu-bj-train-01',
    region: '北京一区',
    gpu: 'NVIDIA A800 80GB',
    nodes: 8,
    total: 64,
    used: 52,
    state: '运行中',
  },
  {
    name: 'gpu-sh-train-02',
    region: '上海二区',
    gpu: 'NVIDIA H800 80GB',
    nodes: 2,
    total: 16,
    used: 11,
    state: '运行中',
  },
  {
    name: 'gpu-gz-infer-01',
    region: '广州一区',
    gpu: 'NVIDIA L40S 48GB',
    nodes: 4,
    total: 16,
    used: 8,
    state: '运行中',
  },
  {
    name: 'npu-hz-dev-01',
    region: '杭州一区',
    gpu: '昇腾 910B 64GB',
    nodes: 1,
    total: 8,
    used: 0,
    state: '维护中',
  },
];

export const JOBS = [
  {
    name: 'qwen2-7b-sft',
    kind: 'PyTorchJob',
    cluster: 'gpu-bj-train-01',
    gpus: 32,
    state: '运行中',
    age: '6h 12m',
  },
  {
    name: 'llama3-8b-serve',
    kind: '推理服务',
    cluster: 'gpu-gz-infer-01',
    gpus: 4,
    state: '运行中',
    age: '3d',
  },
  {
    name: 'bge-m3-embed',
    kind: '推理服务',
    cluster: 'gpu-gz-infer-01',
    gpus: 2,
    state: '运行中',
    age: '12d',
  },
  { name: 'resnet50-bench', kind: 'TFJob', cluster: 'gpu-sh-train-02', gpus: 8, state: '排队中', age: '4m' },
  {
    name: 'sd-xl-finetune',
    kind: 'PyTorchJob',
    cluster: 'gpu-sh-train-02',
    gpus: 8,
    state: '已完成',
    age: '1d',
  },
];
