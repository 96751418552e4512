#ifndef GCNSERVE_SERVER_PIPELINE_MODEL_LIST_H_
#define GCNSERVE_SERVER_PIPELINE_MODEL_LIST_H_

#include "gcnserve/v1/gcnserve.pb.h"
#include "server/models/model_manager.h"

namespace gcnserve {

// Every model and version `models` knows, as ListModels answers (gRPC's
// ListModels, HTTP's GET /v1/models).
void DescribeModels(const ModelManager& models, v1::ListModelsResponse* response);

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_PIPELINE_MODEL_LIST_H_
