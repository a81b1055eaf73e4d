"""Offline embedding of an image collection, as a Ray job. Takes the options of `synclr embed-dataset` (see --help).

    ray job submit --address http://HEAD:8265 --working-dir . --runtime-env jobs/runtime_env.yaml \\
      -- python jobs/embed_dataset.py -c paper-vitb16 --encoder s3://BUCKET/run/export \\
         --input s3://BUCKET/datasets/photos --out s3://BUCKET/run/embeddings/photos
"""

import sys

from synclr_ray.cli import main

if __name__ == "__main__":
    sys.argv[1:1] = ["embed-dataset"]
    main()
