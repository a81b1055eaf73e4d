"""Stage 1: captions, as a Ray job. Takes the options of `synclr captions` (see --help).

    ray job submit --address http://HEAD:8265 --working-dir . --runtime-env jobs/runtime_env.yaml \\
      -- python jobs/captions.py -c paper-vitb16 -r s3://BUCKET/run --num-captions 10000000
"""

import sys

from synclr_ray.cli import main

if __name__ == "__main__":
    sys.argv[1:1] = ["captions"]
    main()
