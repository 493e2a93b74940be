module longhorn-talos-guard/tests/gojson-oracle

go 1.26

require gopkg.in/yaml.v2 v2.4.0
