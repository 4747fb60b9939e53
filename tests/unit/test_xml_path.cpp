// XML bodies and XPath queries through libxml2: what each kind of result gives, documents that
// are refused, and entities that must not be read.

#include <catch2/catch.hpp>
#include <string>
#include <thread>
#include <vector>

#include "text/xml_path.hpp"

using namespace stubborn;

namespace {

using texts = std::vector<std::string>;

const char* const order_xml = R"(<?xml version="1.0" encoding="UTF-8"?>
<order id="o-17" status="new">
  <id>17</id>
  <total currency="EUR">120.50</total>
  <items>
    <item><sku>A1</sku><qty>2</qty></item>
    <item><sku>B2</sku><qty>1</qty></item>
    <item><sku><![CDATA[C<3]]></sku></item>
  </items>
  <note/>
  <customer><name>Ada <b>L</b>ovelace</name></customer>
</order>)";

texts select(std::string_view document, std::string_view query) {
  const std::unique_ptr<xml_document> parsed = xml_document::parse(document);
  REQUIRE(parsed != nullptr);
  const xml_path path = xml_path::compile(query);
  texts out;
  path.select(*parsed, out);
  return out;
}

}  // namespace

TEST_CASE("XPath: an element gives its text, an attribute its value", "[unit][xml_path]") {
  CHECK(select(order_xml, "/order/id") == texts{"17"});
  CHECK(select(order_xml, "/order/total") == texts{"120.50"});
  CHECK(select(order_xml, "//order/@id") == texts{"o-17"});
  CHECK(select(order_xml, "/order/total/@currency") == texts{"EUR"});
  CHECK(select(order_xml, "/order/customer/name") == texts{"Ada Lovelace"});  // all text inside
  CHECK(select(order_xml, "/order/note") == texts{""});
  CHECK(select(order_xml, "/order/id/text()") == texts{"17"});
}

TEST_CASE("XPath: a node-set gives every node in document order", "[unit][xml_path]") {
  CHECK(select(order_xml, "//sku") == texts{"A1", "B2", "C<3"});
  CHECK(select(order_xml, "/order/items/item[2]/sku") == texts{"B2"});
  CHECK(select(order_xml, "//item[qty > 1]/sku") == texts{"A1"});
  CHECK(select(order_xml, "/order/@*") == texts{"o-17", "new"});
  CHECK(select(order_xml, "//missing").empty());
  CHECK(select(order_xml, "/id").empty());
}

TEST_CASE("XPath: numbers, booleans and strings give their text", "[unit][xml_path]") {
  CHECK(select(order_xml, "count(//sku)") == texts{"3"});
  CHECK(select(order_xml, "count(//missing)") == texts{"0"});
  CHECK(select(order_xml, "sum(//qty)") == texts{"3"});
  CHECK(select(order_xml, "number(/order/total)") == texts{"120.5"});
  CHECK(select(order_xml, "-2 div 4") == texts{"-0.5"});
  CHECK(select(order_xml, "1 div 0") == texts{"Infinity"});
  CHECK(select(order_xml, "number('x')").empty());  // NaN: no value
  CHECK(select(order_xml, "/order/id = 17") == texts{"true"});
  CHECK(select(order_xml, "boolean(//missing)") == texts{"false"});
  CHECK(select(order_xml, "string(/order/@status)") == texts{"new"});
  CHECK(select(order_xml, "concat((//sku)[1], '-', (//sku)[2])") == texts{"A1-B2"});
}

TEST_CASE("XPath: prefixes the root element declares can be used", "[unit][xml_path]") {
  const char* const soap = R"(<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"
      xmlns:o="urn:orders"><s:Body><o:order><o:id>9</o:id></o:order></s:Body></s:Envelope>)";
  CHECK(select(soap, "/s:Envelope/s:Body/o:order/o:id") == texts{"9"});
  CHECK(select(soap, "//o:id") == texts{"9"});
  CHECK(select(soap, "//*[local-name()='id']") == texts{"9"});
  CHECK(select(soap, "//x:id").empty());  // a prefix nobody declared
  // A default namespace: plain names do not match in XPath 1.0, local-name() does.
  const char* const defaulted = R"(<order xmlns="urn:orders"><id>5</id></order>)";
  CHECK(select(defaulted, "/order/id").empty());
  CHECK(select(defaulted, "/*[local-name()='order']/*[local-name()='id']") == texts{"5"});
}

TEST_CASE("XPath: a document that is not well-formed is refused", "[unit][xml_path]") {
  CHECK(xml_document::parse("") == nullptr);
  CHECK(xml_document::parse("not xml") == nullptr);
  CHECK(xml_document::parse("<a><b></a>") == nullptr);
  CHECK(xml_document::parse("<a></a><b></b>") == nullptr);
  CHECK(xml_document::parse(R"({"order": 1})") == nullptr);
  CHECK(xml_document::parse(std::string_view("<a>\0</a>", 8)) == nullptr);
  CHECK(xml_document::parse("<a/>") != nullptr);
  CHECK(xml_document::parse("  <a x='1'>t</a>\n") != nullptr);
}

TEST_CASE("XPath: entities are never read from files nor expanded", "[unit][xml_path]") {
  const char* const external = R"(<?xml version="1.0"?>
<!DOCTYPE order [ <!ENTITY secret SYSTEM "file:///etc/passwd"> ]>
<order><id>&secret;</id></order>)";
  const std::unique_ptr<xml_document> parsed = xml_document::parse(external);
  if (parsed != nullptr) {
    texts out;
    xml_path::compile("/order/id").select(*parsed, out);
    for (const std::string& text : out) CHECK(text.find("root:") == std::string::npos);
  }
  const char* const laughs = R"(<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<lolz>&lol9;</lolz>)";
  const std::unique_ptr<xml_document> bomb = xml_document::parse(laughs);
  if (bomb != nullptr) {
    texts out;
    xml_path::compile("/lolz").select(*bomb, out);
    REQUIRE(out.size() == 1);
    CHECK(out[0].size() < 1000);
  }
  // A DOCTYPE without entity declarations is fine.
  CHECK(select("<!DOCTYPE order><order><id>1</id></order>", "/order/id") == texts{"1"});
  // The predefined entities and character references are always decoded.
  CHECK(select("<a>x &amp; y &#65;</a>", "/a") == texts{"x & y A"});
}

TEST_CASE("XPath: a bad expression is an error that says why", "[unit][xml_path]") {
  // libxml2 compiles the last few and only complains when they run: they are errors here too.
  for (const char* bad : {"", "/order/", "//[", "/order/id[", "1 +", "@@id", "count(", "foo()",
                          "count(1, 2)", "count('x')", "$undefined"}) {
    INFO("query: " << bad);
    try {
      xml_path::compile(bad);
      FAIL("compiled");
    } catch (const xml_path_error& error) {
      CHECK_THAT(error.what(), Catch::StartsWith(std::string("bad XPath '") + bad + "': "));
    }
  }
  try {
    xml_path::compile("foo()");
    FAIL("compiled");
  } catch (const xml_path_error& error) {
    CHECK(std::string(error.what()) == "bad XPath 'foo()': unknown function");
  }
  try {
    xml_path::compile("/a/b[");
    FAIL("compiled");
  } catch (const xml_path_error& error) {
    CHECK_THAT(error.what(), Catch::Contains("(at offset 5)"));
  }
  // A prefix is declared by the document, so an undeclared one is no error at load.
  CHECK(xml_path::compile("//o:id").text() == "//o:id");
}

TEST_CASE("XPath: a query moves, and text() is as written", "[unit][xml_path]") {
  xml_path first = xml_path::compile("//sku");
  xml_path second = std::move(first);
  CHECK(second.text() == "//sku");
  xml_path third = xml_path::compile("/order/id");
  third = std::move(second);
  CHECK(third.text() == "//sku");
  texts out;
  third.select(*xml_document::parse(order_xml), out);
  CHECK(out.size() == 3);
}

TEST_CASE("XPath: threads parse and query their own documents at once", "[unit][xml_path]") {
  const xml_path skus = xml_path::compile("//sku");
  const xml_path count = xml_path::compile("count(//item)");
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const std::string document = "<order><item><sku>S" + std::to_string(t) + "-" +
                                     std::to_string(i) + "</sku></item><item><sku>x</sku></item>" +
                                     (i % 2 == 0 ? "" : "<broken>") + "</order>";
        const auto parsed = xml_document::parse(document);
        if ((parsed == nullptr) != (i % 2 == 1)) ++failures[t];
        if (parsed == nullptr) continue;
        texts out;
        skus.select(*parsed, out);
        count.select(*parsed, out);
        if (out != texts{"S" + std::to_string(t) + "-" + std::to_string(i), "x", "2"}) {
          ++failures[t];
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  CHECK(failures == std::vector<int>(4, 0));
}
