"""The whole streaming pipeline: generation feeding training, as a Ray job. Takes the options of `synclr pipeline` (see --help).

    ray job submit --address http://HEAD:8265 --working-dir . --runtime-env jobs/runtime_env.yaml \\
      -- python jobs/pipeline.py -c paper-vitb16 -r s3://BUCKET/run
"""

import sys

from synclr_ray.cli import main

if __name__ == "__main__":
    sys.argv[1:1] = ["pipeline"]
    main()
