// greeter: a stdlib HTTP server for `scratchpack init` tests. It answers with its uid and the
// time in a zone read from zoneinfo, so the production image proves both are in place.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
	"time"
)

func main() {
	zone, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		log.Fatalf("greeter: zoneinfo: %v", err)
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from greeter uid=%d zone=%s\n", os.Getuid(), zone)
	})
	log.Print("greeter: listening on :8080")
	log.Fatal(http.ListenAndServe(":8080", nil))
}
