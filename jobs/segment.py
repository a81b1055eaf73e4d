"""Semantic segmentation transfer (paper Table 7), as a Ray job. Takes the options of `synclr segment` (see --help).

    ray job submit --address http://HEAD:8265 --working-dir . --runtime-env jobs/runtime_env.yaml \\
      -- python jobs/segment.py --encoder s3://BUCKET/run/export -c paper-vitb16 --dataset s3://BUCKET/datasets/ADEChallengeData2016 --out s3://BUCKET/run/eval/ade20k
"""

import sys

from synclr_ray.cli import main

if __name__ == "__main__":
    sys.argv[1:1] = ["segment"]
    main()
