#!/usr/bin/env bash
# Least-privilege service accounts for cluster/gcp.yaml, once per project (idempotent):
#
#   PROJECT_ID=my-project RUN_BUCKET=my-runs [READ_ONLY_BUCKET=my-data] [GKE_NAMESPACE=ns] bash cluster/iam/gcp.sh
#
# Both accounts get the run bucket (objects read, written, deleted: checkpoints rotate, staged
# files move), an optional read-only bucket (weights, datasets) and the two secrets of
# cluster/gcp.yaml, each granted on that bucket or secret, never project-wide. The head account
# also creates and deletes the cluster's VMs (compute.instanceAdmin.v1, the narrowest predefined
# role for that) and may attach the worker account, and no other, to the VMs it creates.
# Ray's launcher still creates its own ray-autoscaler-sa-v1 with project-wide roles on `ray up`;
# with serviceAccounts set in cluster/gcp.yaml no node runs as it. With GKE_NAMESPACE (KubeRay on GKE with
# workload identity), the two Kubernetes service accounts of cluster/kuberay/serviceaccounts.yaml in that
# namespace may act as the worker account, and nothing else.
set -euo pipefail
: "${PROJECT_ID:?set PROJECT_ID}" "${RUN_BUCKET:?set RUN_BUCKET (a bucket name, without gs://)}"
SECRETS=(synclr-ray-auth-token synclr-serve-token)
HEAD="synclr-ray-head@${PROJECT_ID}.iam.gserviceaccount.com"
WORKER="synclr-ray-worker@${PROJECT_ID}.iam.gserviceaccount.com"

for account in synclr-ray-head synclr-ray-worker; do
  gcloud iam service-accounts describe "${account}@${PROJECT_ID}.iam.gserviceaccount.com" \
    --project "$PROJECT_ID" >/dev/null 2>&1 ||
    gcloud iam service-accounts create "$account" --project "$PROJECT_ID" --display-name "synclr-ray ${account#synclr-ray-}"
done

for member in "serviceAccount:${HEAD}" "serviceAccount:${WORKER}"; do
  gcloud storage buckets add-iam-policy-binding "gs://${RUN_BUCKET}" --member "$member" --role roles/storage.objectUser
  if [[ -n "${READ_ONLY_BUCKET:-}" ]]; then
    gcloud storage buckets add-iam-policy-binding "gs://${READ_ONLY_BUCKET}" --member "$member" --role roles/storage.objectViewer
  fi
  for secret in "${SECRETS[@]}"; do
    gcloud secrets add-iam-policy-binding "$secret" --project "$PROJECT_ID" --member "$member" \
      --role roles/secretmanager.secretAccessor
  done
done

gcloud projects add-iam-policy-binding "$PROJECT_ID" --member "serviceAccount:${HEAD}" \
  --role roles/compute.instanceAdmin.v1 --condition None
gcloud iam service-accounts add-iam-policy-binding "$WORKER" --project "$PROJECT_ID" \
  --member "serviceAccount:${HEAD}" --role roles/iam.serviceAccountUser

if [[ -n "${GKE_NAMESPACE:-}" ]]; then
  for account in synclr-ray-head synclr-ray-worker; do
    gcloud iam service-accounts add-iam-policy-binding "$WORKER" --project "$PROJECT_ID" \
      --member "serviceAccount:${PROJECT_ID}.svc.id.goog[${GKE_NAMESPACE}/${account}]" --role roles/iam.workloadIdentityUser
  done
fi
