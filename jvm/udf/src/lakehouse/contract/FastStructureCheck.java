package lakehouse.contract;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.Serializable;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import org.apache.spark.sql.api.java.UDF1;

/**
 * The ingest job's shortcut for a contract's structure check (ingest/contract.py), in the JVM.
 *
 * <p>call() answers true only when a Kafka message surely keeps the structure (required fields
 * present, each of its type); false means "not sure", and the Python check decides and words
 * the reason. So it may be stricter than the schema, never looser: it also refuses what the
 * Python parser (orjson) would, such as lone surrogate escapes, a byte-order mark, NUL bytes,
 * invalid UTF-8, and numbers that overflow a double, wherever they are in the message.
 *
 * <p>The schema is the structure only (ingest.contract.structure_of): the keywords type,
 * properties, required, items and format (date-time, with the regex the Python check uses) on
 * types object, array, string, integer and number. Anything else throws at construction.
 */
public final class FastStructureCheck implements UDF1<byte[], Boolean> {
  private static final long serialVersionUID = 1L;
  private static final JsonFactory JSON = new JsonFactory();
  private static final Set<String> ANNOTATIONS =
      Set.of("$schema", "$id", "title", "description", "$comment", "examples");
  private static final Set<String> KEYWORDS =
      Set.of("type", "properties", "required", "items", "format");

  private enum Kind {
    OBJECT,
    ARRAY,
    STRING,
    INTEGER,
    NUMBER
  }

  private static final class Node implements Serializable {
    private static final long serialVersionUID = 1L;
    Kind kind;
    final Map<String, Node> properties = new HashMap<>();
    // Bit i of a mask stands for required field i: at most 64 of them per object.
    final Map<String, Integer> requiredBit = new HashMap<>();
    long allRequired;
    Node items; // null: any JSON value
    Pattern format; // null: any string
  }

  private final Node root;

  /**
   * @param structureJson the structure schema as JSON
   * @param dateTimeRegex the regex the Python check uses for format date-time (Python syntax;
   *     its \Z becomes Java's \z)
   */
  public FastStructureCheck(String structureJson, String dateTimeRegex) {
    try {
      Pattern dateTime = Pattern.compile(dateTimeRegex.replace("\\Z", "\\z"));
      root = compile(new ObjectMapper().readTree(structureJson), "$", dateTime);
    } catch (java.io.IOException e) {
      throw new IllegalArgumentException("structure schema is not JSON: " + e.getMessage(), e);
    }
  }

  private static Node compile(JsonNode schema, String where, Pattern dateTime) {
    if (!schema.isObject()) {
      throw new IllegalArgumentException(where + ": a schema must be an object");
    }
    for (Iterator<String> names = schema.fieldNames(); names.hasNext(); ) {
      String name = names.next();
      if (!KEYWORDS.contains(name) && !ANNOTATIONS.contains(name)) {
        throw new IllegalArgumentException(where + ": keyword " + name + " is not modelled");
      }
    }
    Node node = new Node();
    JsonNode type = schema.get("type");
    if (type == null || !type.isTextual()) {
      throw new IllegalArgumentException(where + ": needs one type");
    }
    switch (type.asText()) {
      case "object" -> node.kind = Kind.OBJECT;
      case "array" -> node.kind = Kind.ARRAY;
      case "string" -> node.kind = Kind.STRING;
      case "integer" -> node.kind = Kind.INTEGER;
      case "number" -> node.kind = Kind.NUMBER;
      default -> throw new IllegalArgumentException(where + ": type " + type + " is not modelled");
    }
    JsonNode format = schema.get("format");
    if (format != null) {
      if (node.kind != Kind.STRING || !"date-time".equals(format.asText())) {
        throw new IllegalArgumentException(where + ": format " + format + " is not modelled");
      }
      node.format = dateTime;
    }
    JsonNode properties = schema.get("properties");
    JsonNode required = schema.get("required");
    JsonNode items = schema.get("items");
    if ((properties != null || required != null) && node.kind != Kind.OBJECT
        || items != null && node.kind != Kind.ARRAY) {
      throw new IllegalArgumentException(where + ": keywords that do not fit type " + type);
    }
    if (properties != null) {
      for (Iterator<Map.Entry<String, JsonNode>> it = properties.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> property = it.next();
        String name = property.getKey();
        node.properties.put(name, compile(property.getValue(), where + "." + name, dateTime));
      }
    }
    if (required != null) {
      if (!required.isArray() || required.size() > 64) {
        throw new IllegalArgumentException(where + ": required must list at most 64 names");
      }
      for (JsonNode name : required) {
        if (!name.isTextual() || !node.properties.containsKey(name.asText())) {
          throw new IllegalArgumentException(where + ": required " + name + " has no property");
        }
        node.requiredBit.putIfAbsent(name.asText(), node.requiredBit.size());
      }
      node.allRequired =
          node.requiredBit.size() == 64 ? -1L : (1L << node.requiredBit.size()) - 1;
    }
    if (items != null) {
      node.items = compile(items, where + "[]", dateTime);
    }
    return node;
  }

  @Override
  public Boolean call(byte[] message) {
    if (message == null || !plainUtf8(message)) {
      return false;
    }
    try (JsonParser parser = JSON.createParser(message)) {
      return matches(parser, parser.nextToken(), root) && parser.nextToken() == null;
    } catch (Exception e) { // not JSON, or past Jackson's limits: the Python check decides
      return false;
    }
  }

  private static boolean matches(JsonParser parser, JsonToken token, Node node)
      throws java.io.IOException {
    if (node == null) {
      return anyValue(parser, token);
    }
    switch (node.kind) {
      case OBJECT -> {
        if (token != JsonToken.START_OBJECT) {
          return false;
        }
        long seen = 0;
        // Every occurrence of a repeated key is checked: stricter than a parser keeping one.
        while (parser.nextToken() == JsonToken.FIELD_NAME) {
          String name = parser.currentName();
          if (!matches(parser, parser.nextToken(), node.properties.get(name))) {
            return false;
          }
          Integer bit = node.requiredBit.get(name);
          if (bit != null) {
            seen |= 1L << bit;
          }
        }
        return parser.currentToken() == JsonToken.END_OBJECT && seen == node.allRequired;
      }
      case ARRAY -> {
        if (token != JsonToken.START_ARRAY) {
          return false;
        }
        for (JsonToken item = parser.nextToken(); item != JsonToken.END_ARRAY; ) {
          if (!matches(parser, item, node.items)) {
            return false;
          }
          item = parser.nextToken();
        }
        return true;
      }
      case STRING -> {
        return token == JsonToken.VALUE_STRING
            && (node.format == null || node.format.matcher(parser.getText()).matches());
      }
      case INTEGER -> {
        return token == JsonToken.VALUE_NUMBER_INT && fitsLong(parser);
      }
      case NUMBER -> {
        return token == JsonToken.VALUE_NUMBER_INT
            ? fitsLong(parser)
            : token == JsonToken.VALUE_NUMBER_FLOAT && Double.isFinite(parser.getDoubleValue());
      }
      default -> {
        return false;
      }
    }
  }

  /** A value the schema says nothing about: any JSON, but numbers must still parse. */
  private static boolean anyValue(JsonParser parser, JsonToken token) throws java.io.IOException {
    int depth = 0;
    do {
      if (token == null) {
        return false;
      }
      switch (token) {
        case START_OBJECT, START_ARRAY -> depth++;
        case END_OBJECT, END_ARRAY -> depth--;
        case VALUE_NUMBER_INT -> {
          if (!fitsLong(parser)) {
            return false;
          }
        }
        case VALUE_NUMBER_FLOAT -> {
          if (!Double.isFinite(parser.getDoubleValue())) {
            return false;
          }
        }
        default -> {}
      }
      if (depth > 0) {
        token = parser.nextToken();
      }
    } while (depth > 0);
    return true;
  }

  private static boolean fitsLong(JsonParser parser) throws java.io.IOException {
    JsonParser.NumberType type = parser.getNumberType();
    return type == JsonParser.NumberType.INT || type == JsonParser.NumberType.LONG;
  }

  /**
   * Strict UTF-8 (no overlong forms, surrogates or code points past U+10FFFF), no NUL byte, no
   * escaped surrogate (even a paired one: rare, so left to the Python check), and starting,
   * after JSON whitespace, with an ASCII character: no byte-order mark, no UTF-16.
   */
  static boolean plainUtf8(byte[] bytes) {
    int i = 0;
    int n = bytes.length;
    while (i < n && (bytes[i] == ' ' || bytes[i] == '\t' || bytes[i] == '\n' || bytes[i] == '\r')) {
      i++;
    }
    if (i == n || bytes[i] < 0) {
      return false;
    }
    while (i < n) {
      int b = bytes[i];
      if (b > 0) {
        if (b == '\\' && i + 3 < n && bytes[i + 1] == 'u' && (bytes[i + 2] | 0x20) == 'd') {
          int c = bytes[i + 3] | 0x20;
          if (c == '8' || c == '9' || c >= 'a' && c <= 'f') {
            return false;
          }
        }
        i++;
        continue;
      }
      if (b == 0) {
        return false;
      }
      int lead = b & 0xFF;
      int length;
      int min;
      if (lead >= 0xC2 && lead <= 0xDF) {
        length = 2;
        min = 0x80;
      } else if (lead >= 0xE0 && lead <= 0xEF) {
        length = 3;
        min = 0x800;
      } else if (lead >= 0xF0 && lead <= 0xF4) {
        length = 4;
        min = 0x10000;
      } else {
        return false;
      }
      if (i + length > n) {
        return false;
      }
      int codePoint = lead & (0xFF >> (length + 1));
      for (int k = 1; k < length; k++) {
        int next = bytes[i + k] & 0xFF;
        if ((next & 0xC0) != 0x80) {
          return false;
        }
        codePoint = (codePoint << 6) | (next & 0x3F);
      }
      if (codePoint < min || codePoint > 0x10FFFF || codePoint >= 0xD800 && codePoint <= 0xDFFF) {
        return false;
      }
      i += length;
    }
    return true;
  }
}
