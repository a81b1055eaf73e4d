"""Linear transfer suite (paper Table 6) of an exported encoder, as a Ray job. Takes the options of `synclr transfer` (see --help).

    ray job submit --address http://HEAD:8265 --working-dir . --runtime-env jobs/runtime_env.yaml \\
      -- python jobs/transfer.py --encoder s3://BUCKET/run/export -c paper-vitb16 --set transfer.root=s3://BUCKET/datasets --out s3://BUCKET/run/eval/transfer
"""

import sys

from synclr_ray.cli import main

if __name__ == "__main__":
    sys.argv[1:1] = ["transfer"]
    main()
