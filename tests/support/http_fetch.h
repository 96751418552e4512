#ifndef GCNSERVE_TESTS_SUPPORT_HTTP_FETCH_H_
#define GCNSERVE_TESTS_SUPPORT_HTTP_FETCH_H_

// One HTTP request with libcurl, for the HTTP port's tests.
#include <curl/curl.h>

#include <string>
#include <vector>

namespace gcnserve {

struct HttpAnswer {
  long status = 0;
  std::string body;
  std::string content_type;
};

inline size_t AppendToString(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

// One request with libcurl; status 0 when it could not be made.
inline HttpAnswer Fetch(const std::string& method, const std::string& url,
                 const std::string& body = "",
                 const std::vector<std::string>& headers = {},
                 const std::string& ca_file = "") {
  HttpAnswer answer;
  CURL* curl = curl_easy_init();
  curl_slist* list = nullptr;
  for (const std::string& header : headers) {
    list = curl_slist_append(list, header.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  if (method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(body.size()));
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &AppendToString);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer.body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
  if (!ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, ca_file.c_str());
  if (curl_easy_perform(curl) == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &answer.status);
    char* type = nullptr;
    curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type);
    if (type) answer.content_type = type;
  }
  curl_slist_free_all(list);
  curl_easy_cleanup(curl);
  return answer;
}

}  // namespace gcnserve

#endif  // GCNSERVE_TESTS_SUPPORT_HTTP_FETCH_H_
