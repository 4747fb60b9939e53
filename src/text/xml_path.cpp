#include "text/xml_path.hpp"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include <charconv>
#include <climits>
#include <cmath>
#include <mutex>

namespace stubborn {

namespace {

void ignore_generic_error(void*, const char*, ...) {}
void ignore_structured_error(void*, xmlErrorPtr) {}

// libxml2 initialises its globals once per process (not safely from two threads at once) and
// keeps its error handlers per thread: without these, a bad body or query would be printed on
// stderr by whichever thread met it.
void prepare_libxml_on_this_thread() {
  static std::once_flag process_once;
  std::call_once(process_once, [] { xmlInitParser(); });
  thread_local bool silenced = false;
  if (!silenced) {
    xmlSetGenericErrorFunc(nullptr, ignore_generic_error);
    xmlSetStructuredErrorFunc(nullptr, ignore_structured_error);
    silenced = true;
  }
}

// No network, no DTD loading, no entity substitution (XML_PARSE_NOENT is what makes libxml2
// read an external entity), and libxml2's size limits kept (no XML_PARSE_HUGE).
constexpr int parse_options = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING;

// An entity declaration is how a document asks to read a file or to expand a billion laughs when
// its text is taken; request bodies have no use for them, so such a document is refused.
bool declares_entities(xmlDocPtr doc) {
  const xmlDtdPtr dtd = doc->intSubset;
  return dtd != nullptr && (dtd->entities != nullptr || dtd->pentities != nullptr);
}

void keep_first_error(void* data, xmlErrorPtr error) {
  auto* reason = static_cast<std::string*>(data);
  if (error == nullptr || error->message == nullptr || !reason->empty()) return;
  *reason = error->message;
  while (!reason->empty() && (reason->back() == '\n' || reason->back() == ' ')) reason->pop_back();
}

// How XPath's string() writes a number, with integers as integers (3, not 3.0).
std::string number_text(double number) {
  if (std::isinf(number)) return number > 0 ? "Infinity" : "-Infinity";
  if (number == 0) return "0";  // also -0
  char buffer[64];
  std::to_chars_result written{};
  if (std::fabs(number) < 1e15 && number == std::trunc(number)) {
    written = std::to_chars(buffer, buffer + sizeof buffer, static_cast<long long>(number));
  } else {
    written = std::to_chars(buffer, buffer + sizeof buffer, number);
  }
  return std::string(buffer, written.ptr);
}

void append_node_text(xmlNodePtr node, std::vector<std::string>& out) {
  xmlChar* content = xmlNodeGetContent(node);
  if (content == nullptr) {
    out.emplace_back();
    return;
  }
  out.emplace_back(reinterpret_cast<const char*>(content));
  xmlFree(content);
}

// The prefixes the root element declares (xmlns:p="..."), so that `//p:order` works on a
// document that uses them.
void register_root_prefixes(xmlDocPtr doc, xmlXPathContextPtr context) {
  const xmlNodePtr root = xmlDocGetRootElement(doc);
  if (root == nullptr) return;
  for (xmlNsPtr ns = root->nsDef; ns != nullptr; ns = ns->next) {
    if (ns->prefix != nullptr && ns->href != nullptr) xmlXPathRegisterNs(context, ns->prefix, ns->href);
  }
}

}  // namespace

std::unique_ptr<xml_document> xml_document::parse(std::string_view text) {
  if (text.size() > static_cast<std::size_t>(INT_MAX)) return nullptr;
  prepare_libxml_on_this_thread();
  const xmlDocPtr doc = xmlReadMemory(text.data(), static_cast<int>(text.size()), nullptr, nullptr,
                                      parse_options);
  if (doc == nullptr) return nullptr;
  if (declares_entities(doc)) {
    xmlFreeDoc(doc);
    return nullptr;
  }
  return std::unique_ptr<xml_document>(new xml_document(doc));
}

xml_document::~xml_document() { xmlFreeDoc(static_cast<xmlDocPtr>(doc_)); }

xml_path xml_path::compile(std::string_view text) {
  prepare_libxml_on_this_thread();
  const std::string expression(text);
  if (expression.empty()) throw xml_path_error("bad XPath '': empty expression");
  if (expression.find('\0') != std::string::npos) {
    throw xml_path_error("bad XPath '" + expression + "': a NUL character");
  }
  // A context of its own, with an error handler of its own, so the reason is caught here and
  // not printed (nor left for the next query) by the thread's handlers.
  const xmlXPathContextPtr context = xmlXPathNewContext(nullptr);
  if (context == nullptr) throw xml_path_error("bad XPath '" + expression + "': out of memory");
  std::string reason;
  context->error = keep_first_error;
  context->userData = &reason;
  const xmlXPathCompExprPtr compiled =
      xmlXPathCtxtCompile(context, reinterpret_cast<const xmlChar*>(expression.c_str()));
  xmlXPathFreeContext(context);
  if (compiled == nullptr) {
    if (reason.empty()) reason = "not an XPath 1.0 expression";
    throw xml_path_error("bad XPath '" + expression + "': " + reason);
  }
  xml_path path;
  path.text_ = expression;
  path.compiled_ = compiled;
  return path;
}

xml_path::xml_path(xml_path&& other) noexcept
    : text_(std::move(other.text_)), compiled_(other.compiled_) {
  other.compiled_ = nullptr;
}

xml_path& xml_path::operator=(xml_path&& other) noexcept {
  if (this != &other) {
    if (compiled_ != nullptr) xmlXPathFreeCompExpr(static_cast<xmlXPathCompExprPtr>(compiled_));
    text_ = std::move(other.text_);
    compiled_ = other.compiled_;
    other.compiled_ = nullptr;
  }
  return *this;
}

xml_path::~xml_path() {
  if (compiled_ != nullptr) xmlXPathFreeCompExpr(static_cast<xmlXPathCompExprPtr>(compiled_));
}

void xml_path::select(const xml_document& document, std::vector<std::string>& out) const {
  if (compiled_ == nullptr) return;
  prepare_libxml_on_this_thread();
  const auto doc = static_cast<xmlDocPtr>(document.native());
  // A context per call: contexts hold evaluation state, so one per thread and query.
  const xmlXPathContextPtr context = xmlXPathNewContext(doc);
  if (context == nullptr) return;
  context->error = ignore_structured_error;  // e.g. a prefix the document does not declare
  register_root_prefixes(doc, context);
  const xmlXPathObjectPtr result =
      xmlXPathCompiledEval(static_cast<xmlXPathCompExprPtr>(compiled_), context);
  if (result != nullptr) {
    switch (result->type) {
      case XPATH_NODESET:
        if (result->nodesetval != nullptr) {
          for (int i = 0; i < result->nodesetval->nodeNr; ++i) {
            append_node_text(result->nodesetval->nodeTab[i], out);
          }
        }
        break;
      case XPATH_NUMBER:
        if (!std::isnan(result->floatval)) out.push_back(number_text(result->floatval));
        break;
      case XPATH_BOOLEAN:
        out.emplace_back(result->boolval ? "true" : "false");
        break;
      case XPATH_STRING:
        if (result->stringval != nullptr) {
          out.emplace_back(reinterpret_cast<const char*>(result->stringval));
        }
        break;
      default:
        break;
    }
    xmlXPathFreeObject(result);
  }
  xmlXPathFreeContext(context);
}

}  // namespace stubborn
