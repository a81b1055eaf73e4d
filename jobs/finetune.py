"""Full fine-tuning of an exported encoder (paper Appendix C), as a Ray job. Takes the options of `synclr finetune` (see --help).

    ray job submit --address http://HEAD:8265 --working-dir . --runtime-env jobs/runtime_env.yaml \\
      -- python jobs/finetune.py --encoder s3://BUCKET/run/export -c paper-vitb16 --dataset s3://BUCKET/datasets/imagenet --out s3://BUCKET/run/eval/finetune
"""

import sys

from synclr_ray.cli import main

if __name__ == "__main__":
    sys.argv[1:1] = ["finetune"]
    main()
