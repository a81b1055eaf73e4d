"""Evaluation: linear probe / kNN of an exported encoder, as a Ray job. Takes the options of `synclr probe` (see --help).

    ray job submit --address http://HEAD:8265 --working-dir . --runtime-env jobs/runtime_env.yaml \\
      -- python jobs/probe.py --encoder s3://BUCKET/run/export --dataset digits
"""

import sys

from synclr_ray.cli import main

if __name__ == "__main__":
    sys.argv[1:1] = ["probe"]
    main()
