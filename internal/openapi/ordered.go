package openapi

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// object is a JSON object that keeps its keys in the order written: the
// description's order is the order a reader (and a Postman run) meets the
// routes in.
type object struct {
	keys []string
	vals map[string]any
}

func (o *object) get(key string) any {
	if o == nil {
		return nil
	}
	return o.vals[key]
}

func (o *object) set(key string, v any) {
	if _, ok := o.vals[key]; !ok {
		o.keys = append(o.keys, key)
	}
	o.vals[key] = v
}

func (o *object) del(key string) {
	if _, ok := o.vals[key]; !ok {
		return
	}
	delete(o.vals, key)
	o.keys = slices.DeleteFunc(o.keys, func(k string) bool { return k == key })
}

func deepCopy(v any) any {
	switch t := v.(type) {
	case *object:
		c := &object{keys: slices.Clone(t.keys), vals: make(map[string]any, len(t.vals))}
		for k, e := range t.vals {
			c.vals[k] = deepCopy(e)
		}
		return c
	case []any:
		c := make([]any, len(t))
		for i, e := range t {
			c[i] = deepCopy(e)
		}
		return c
	}
	return v
}

// parse reads JSON into *object, []any, string, json.Number, bool and nil.
// A key written twice in one object is an error (encoding/json would keep
// the last silently, hiding a mistake in a hand-written file).
func parse(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := parseValue(dec, "")
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("data after the top-level value at byte %d", dec.InputOffset())
	}
	return v, nil
}

func parseValue(dec *json.Decoder, at string) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cmp.Or(at, "/"), err)
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return tok, nil
	}
	switch d {
	case '{':
		o := &object{vals: map[string]any{}}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			k := kt.(string)
			path := at + "/" + strings.NewReplacer("~", "~0", "/", "~1").Replace(k)
			if _, dup := o.vals[k]; dup {
				return nil, fmt.Errorf("%s: key written twice", path)
			}
			v, err := parseValue(dec, path)
			if err != nil {
				return nil, err
			}
			o.set(k, v)
		}
		_, err := dec.Token()
		return o, err
	case '[':
		arr := []any{}
		for i := 0; dec.More(); i++ {
			v, err := parseValue(dec, fmt.Sprintf("%s/%d", at, i))
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		_, err := dec.Token()
		return arr, err
	}
	return nil, fmt.Errorf("%s: unexpected %v", at, d)
}

// marshal writes v as indented JSON, keys in their order, without
// escaping <, > and & (the description has "DateSent<").
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	if err := encode(&buf, v); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, buf.Bytes(), "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

func encode(buf *bytes.Buffer, v any) error {
	switch t := v.(type) {
	case *object:
		buf.WriteByte('{')
		for i, k := range t.keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := encode(buf, k); err != nil {
				return err
			}
			buf.WriteByte(':')
			if err := encode(buf, t.vals[k]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case []any:
		buf.WriteByte('[')
		for i, e := range t {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := encode(buf, e); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	default:
		enc := json.NewEncoder(buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(t); err != nil {
			return err
		}
		buf.Truncate(buf.Len() - 1) // Encode's newline
	}
	return nil
}

// plain converts a parsed value to what encoding/json would have made
// (map[string]any, []any, float64...), for callers that do not care about
// order.
func plain(v any) any {
	switch t := v.(type) {
	case *object:
		m := make(map[string]any, len(t.keys))
		for _, k := range t.keys {
			m[k] = plain(t.vals[k])
		}
		return m
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = plain(e)
		}
		return out
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return float64(i)
		}
		f, _ := t.Float64()
		return f
	}
	return v
}

// resolve follows local references ("#/components/..."), also chains of
// them; anything else is returned as it is.
func resolve(root, v any) (any, error) {
	for range 16 {
		o, ok := v.(*object)
		if !ok {
			return v, nil
		}
		ref, ok := o.get("$ref").(string)
		if !ok {
			return v, nil
		}
		target, err := pointer(root, ref)
		if err != nil {
			return nil, err
		}
		v = target
	}
	return nil, errors.New("references nested too deep (a cycle?)")
}

// pointer returns what a local reference ("#/a/b~1c") points at.
func pointer(root any, ref string) (any, error) {
	p, ok := strings.CutPrefix(ref, "#")
	if !ok {
		return nil, fmt.Errorf("reference %q is not local to the description", ref)
	}
	v := root
	if p == "" {
		return v, nil
	}
	for _, seg := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		seg = strings.NewReplacer("~1", "/", "~0", "~").Replace(seg)
		o, ok := v.(*object)
		if !ok {
			return nil, fmt.Errorf("reference %q: %q is not in an object", ref, seg)
		}
		if v, ok = o.vals[seg]; !ok {
			return nil, fmt.Errorf("reference %q: no %q", ref, seg)
		}
	}
	return v, nil
}
