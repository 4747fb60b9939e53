#pragma once
// XML bodies and XPath 1.0 queries over them, through libxml2. A query is compiled once at load;
// a document is parsed at most once per request (no network, no DTD loading, no entity
// expansion). select() gives the string value of each node selected (an element's text, an
// attribute's value), or the query's value when it is a number, a boolean or a string.
//
// Namespaces: the prefixes the root element declares (`xmlns:o="urn:orders"`) can be used in a
// query (`//o:id`). A default namespace (`<order xmlns="urn:orders">`) has no prefix, and in
// XPath 1.0 a plain name only matches elements in no namespace: `/order/id` selects nothing
// there; write `/*[local-name()='order']/*[local-name()='id']`.
// Libxml2's errors are never printed; every function here may run on several threads at once
// (each on its own document).

#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace stubborn {

/// A query that cannot be compiled (libxml2's reason).
struct xml_path_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// A parsed XML document (libxml2's xmlDoc, opaque here).
class xml_document {
 public:
  /// Parses `text`; null when it is not well-formed XML, or when it declares entities (the way
  /// to read a local file or to expand a "billion laughs"; request bodies have no use for them).
  static std::unique_ptr<xml_document> parse(std::string_view text);
  ~xml_document();
  xml_document(const xml_document&) = delete;
  xml_document& operator=(const xml_document&) = delete;
  void* native() const { return doc_; }  ///< the xmlDocPtr

 private:
  explicit xml_document(void* doc) : doc_(doc) {}
  void* doc_;
};

class xml_path {
 public:
  /// Throws xml_path_error ("bad XPath '...': reason"), also for the mistakes libxml2 finds only
  /// when a query runs (an unknown function, a wrong number of arguments, a variable).
  static xml_path compile(std::string_view text);
  xml_path(xml_path&&) noexcept;
  xml_path& operator=(xml_path&&) noexcept;
  ~xml_path();

  /// Appends the string value of every node selected (document order), or the one value of a
  /// query that gives a number (3, not 3.0; NaN gives nothing), boolean ("true" / "false") or
  /// string.
  void select(const xml_document& document, std::vector<std::string>& out) const;
  const std::string& text() const { return text_; }

 private:
  xml_path() = default;
  std::string text_;
  void* compiled_ = nullptr;  ///< xmlXPathCompExprPtr
};

}  // namespace stubborn
