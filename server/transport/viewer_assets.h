#ifndef GCNSERVE_SERVER_TRANSPORT_VIEWER_ASSETS_H_
#define GCNSERVE_SERVER_TRANSPORT_VIEWER_ASSETS_H_

#include <string_view>

namespace gcnserve {

// One file of the browser viewer (server/transport/viewer/), built into the binary
// so that the page works offline and needs nothing installed beside it.
struct ViewerAsset {
  const char* content_type;
  std::string_view body;
};

// The file served at `path` ("/" is index.html), or null.
const ViewerAsset* FindViewerAsset(std::string_view path);

}  // namespace gcnserve

#endif  // GCNSERVE_SERVER_TRANSPORT_VIEWER_ASSETS_H_
