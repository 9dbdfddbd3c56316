package devllm

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"net/http"
	"strings"
	"time"
)

// Vector is the embedding the server returns for text: deterministic,
// unit length, dim long. Tests compare a client's results with it.
func Vector(text string, dim int) []float32 {
	v := make([]float32, dim)
	var norm float64
	for i := range v {
		h := fnv.New64a()
		fmt.Fprintf(h, "%d\x00%s", i, text)
		x := float64(h.Sum64()%2001)/1000 - 1 // in [-1, 1]
		v[i] = float32(x)
		norm += x * x
	}
	if norm == 0 {
		return v
	}
	n := float32(math.Sqrt(norm))
	for i := range v {
		v[i] /= n
	}
	return v
}

func (s *Server) serveEmbeddings(w http.ResponseWriter, r *http.Request, req Request, step Step, finish func()) {
	var body struct {
		Input          json.RawMessage `json:"input"`
		Model          string          `json:"model"`
		EncodingFormat string          `json:"encoding_format"`
		Dimensions     int             `json:"dimensions"`
	}
	if err := json.Unmarshal(req.Body, &body); err != nil {
		writeAPIError(w, http.StatusBadRequest, "invalid_request_error", err.Error())
		return
	}
	var inputs []string
	var one string
	if json.Unmarshal(body.Input, &one) == nil {
		inputs = []string{one}
	} else if err := json.Unmarshal(body.Input, &inputs); err != nil {
		writeAPIError(w, http.StatusBadRequest, "invalid_request_error", "input: expected a string or a list of strings")
		return
	}
	if len(inputs) == 0 {
		writeAPIError(w, http.StatusBadRequest, "invalid_request_error", "input: must not be empty")
		return
	}

	// The GPU: a bounded number of slots, each busy for fixed + per-item time.
	select {
	case s.slots <- struct{}{}:
	case <-r.Context().Done():
		return
	case <-s.done:
		return
	}
	lat := s.opts.EmbedLatency
	ok := s.wait(r.Context(), lat.Fixed+time.Duration(len(inputs))*lat.PerItem)
	<-s.slots
	if !ok {
		return
	}

	if step.Fault == Malformed {
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprint(w, `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,0.2`)
		return
	}
	dim := s.opts.Dimensions
	if body.Dimensions > 0 {
		dim = body.Dimensions
	}
	data := make([]map[string]any, len(inputs))
	tokens := 0
	for i, in := range inputs {
		vec := Vector(in, dim)
		tokens += len(strings.Fields(in))
		var enc any = vec
		if body.EncodingFormat == "base64" {
			buf := make([]byte, 4*len(vec))
			for j, f := range vec {
				binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(f))
			}
			enc = base64.StdEncoding.EncodeToString(buf)
		}
		data[i] = map[string]any{"object": "embedding", "index": i, "embedding": enc}
	}
	w.Header().Set("Content-Type", "application/json")
	finish()
	_ = json.NewEncoder(w).Encode(map[string]any{
		"object": "list", "data": data, "model": cmpOr(body.Model, s.opts.Model),
		"usage": map[string]any{"prompt_tokens": tokens, "total_tokens": tokens},
	})
}
